"""`webbench-lab compare`: verdicts, exit codes and bad input on synthetic pairs of runs, written
through the real ResultsDir and CaseRecord so that the files are what `bench` writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from tests.unit.test_cli import assert_one_line_exit_2, run_cli
from webbench_lab.bench import compare
from webbench_lab.bench import stats as wstats
from webbench_lab.bench.plan import Options, effective_suite, run_settings
from webbench_lab.bench.record import CaseRecord, Figures, Resources
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.suites import load_suite
from webbench_lab.cli import main as cli
from webbench_lab.errors import UserError

HELLO = ("go-http", 1, "hello")
SUITE = "web_bench_2011"


def make_run(
    root: Path,
    name: str,
    cases: dict[tuple[str, int, str], list[float | str]],
    *,
    suite: str = SUITE,
    bound: set[tuple[str, int, str]] = frozenset(),
    missing: set[tuple[str, int, str]] = frozenset(),
    **settings,
) -> Path:
    """A results directory with one ok record per rate (a string: a repeat of that status), and the
    manifest a run of `suite` writes (its settings, with `settings` changed)."""
    results = ResultsDir(root / name, suite)
    run_suite = effective_suite(load_suite(suite), Options())
    keys = []
    records = []
    for (system, level, scenario), repeats in cases.items():
        for i, rate in enumerate(repeats, 1):
            key = f"{system}-L{level}-{scenario}-r{i}"
            keys.append(key)
            if isinstance(rate, str):
                records.append(CaseRecord(key, system, level, scenario, "/", i, status=rate, reason="r"))
                continue
            resources = Resources(
                50.0, 40.0, 10.0, 9.0, 95.0 if (system, level, scenario) in bound else 30.0,
                (system, level, scenario) in bound if (system, level, scenario) not in missing else None,
                {"server": 20}, samples_missing=(system, level, scenario) in missing,
            )  # fmt: skip
            figures = Figures(rate, int(rate * 20), 0, 100.0, 1.0, 2.0, 3.0, 1.5, 1000)
            records.append(CaseRecord(key, system, level, scenario, "/", i, status="ok",
                                      load_tool="siege", figures=figures, resources=resources))  # fmt: skip
    results.start_manifest(
        suite=suite, settings=run_settings(run_suite, Options()) | settings, planned_cases=keys
    )
    for record in records:
        results.write_case(record)
    results.finish_manifest(True)
    return results.path


def pair(tmp_path: Path, a: dict, b: dict, **kw) -> tuple[Path, Path]:
    return make_run(tmp_path, "a", a), make_run(tmp_path, "b", b, **kw)


def one(a_rates, b_rates, tmp_path, threshold=5.0) -> compare.CaseComparison:
    a, b = pair(tmp_path, {HELLO: a_rates}, {HELLO: b_rates})
    (case,) = compare.compare(a, b, threshold).cases
    return case


def welch_by_hand(a, b) -> float:
    """Welch's t-test written out: t, the Welch-Satterthwaite df, the two-sided p."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(2 * stats.t.sf(abs(t), df))


# --- verdicts ---------------------------------------------------------------------------------

A = [1000.0, 1010.0, 990.0, 1005.0, 995.0]


def test_a_clear_regression_is_slower(tmp_path):
    b_rates = [900.0, 905.0, 895.0, 910.0, 890.0]
    case = one(A, b_rates, tmp_path)
    assert case.verdict == "slower"
    assert case.ratio == pytest.approx(900.0 / 1000.0)
    assert case.p == pytest.approx(welch_by_hand(A, b_rates), rel=1e-9)
    assert case.p < 1e-5
    lo, hi = case.ci
    assert lo < 0.9 < hi < 0.95
    assert case.reason == "-10.0% with p < 0.05"


def test_pure_noise_is_no_significant_change(tmp_path):
    b_rates = [1005.0, 985.0, 1015.0, 995.0, 1000.0]
    case = one(A, b_rates, tmp_path)
    assert case.verdict == "no significant change"
    assert case.reason == "p >= 0.05"
    assert case.p == pytest.approx(welch_by_hand(A, b_rates), rel=1e-9)
    assert case.p > 0.9  # the same mean
    assert case.ci[0] < 1 < case.ci[1]


def test_a_large_drop_in_noisy_repeats_is_no_significant_change(tmp_path):
    """-10% but A's repeats scatter: Welch's p (unequal variances and sizes) is about 0.37."""
    a_rates, b_rates = [1000.0, 1250.0, 760.0, 1010.0], [900.0, 930.0, 870.0]
    case = one(a_rates, b_rates, tmp_path)
    assert case.ratio == pytest.approx(900.0 / 1005.0)
    assert case.p == pytest.approx(welch_by_hand(a_rates, b_rates), rel=1e-9)
    assert 0.3 < case.p < 0.45
    assert (case.verdict, case.reason) == ("no significant change", "p >= 0.05")


def test_an_improvement_is_faster(tmp_path):
    b_rates = [1200.0, 1220.0, 1190.0, 1210.0, 1180.0]
    case = one(A, b_rates, tmp_path)
    assert case.verdict == "faster"
    assert case.ratio == pytest.approx(1200.0 / 1000.0)
    assert case.ci[0] > 1.05


def test_a_significant_change_within_the_threshold_is_no_significant_change(tmp_path):
    a_rates, b_rates = [1000.0, 1001.0, 999.0], [980.0, 981.0, 979.0]
    case = one(a_rates, b_rates, tmp_path)
    assert case.p < 0.05 and case.ratio == pytest.approx(0.98)
    assert (case.verdict, case.reason) == ("no significant change", "within ±5%")
    assert one(a_rates, b_rates, tmp_path / "t1", threshold=1.0).verdict == "slower"


@pytest.mark.parametrize(
    ("b_rates", "reason"),
    [([500.0], "too few repeats (n=1 in B)"), (["failed", 500.0], "too few repeats (n=1 in B)"),
     (["failed", "failed"], "no ok repeat in B")],
)  # fmt: skip
def test_one_value_on_a_side_cannot_tell(tmp_path, b_rates, reason):
    """No t-test and no interval on one value: however large the drop, it cannot fail the run."""
    a, b = pair(tmp_path, {HELLO: A}, {HELLO: b_rates})
    comparison = compare.compare(a, b)
    (case,) = comparison.cases
    assert (case.verdict, case.reason) == ("cannot tell", reason)
    assert case.p is None and case.ci is None
    assert comparison.exit_code == 0
    assert case.b.repeats == len(b_rates)


def test_a_case_missing_from_one_run_is_listed_not_compared(tmp_path):
    other, new = ("nginx-php", 2, "hello"), ("tornado", 4, "hello")
    a, b = pair(tmp_path, {HELLO: A, other: A}, {HELLO: A, new: [1.0, 2.0]})
    comparison = compare.compare(a, b)
    assert [(c.system, c.level, c.scenario) for c in comparison.cases] == [HELLO]
    assert comparison.only_in_a == [other] and comparison.only_in_b == [new]
    text = comparison.markdown()
    assert "Only in A (not compared): nginx-php L2 hello." in text
    assert "Only in B (not compared): tornado L4 hello." in text
    data = comparison.as_dict()
    assert data["only_in_b"] == [{"system": "tornado", "level": 4, "scenario": "hello"}]


def test_a_zero_rate_in_a_has_no_ratio(tmp_path):
    case = one([0.0, 0.0, 0.0], [5.0, 6.0, 7.0], tmp_path)
    assert case.ratio is None and case.ci is None
    assert (case.verdict, case.reason) == ("faster", "from 0 with p < 0.05")


def test_flags_mark_a_generator_bound_case_and_missing_samples_and_keep_the_verdict(tmp_path):
    b_rates = [900.0, 905.0, 895.0, 910.0, 890.0]
    a = make_run(tmp_path, "a", {HELLO: A}, bound={HELLO})
    b = make_run(tmp_path, "b", {HELLO: b_rates}, missing={HELLO})
    comparison = compare.compare(a, b)
    (case,) = comparison.cases
    assert case.verdict == "slower"
    assert case.flags == ["generator-bound (A)", "samples missing (B)"]
    row = next(line for line in comparison.markdown().splitlines() if line.startswith("| go-http"))
    assert row.endswith("| slower | generator-bound (A), samples missing (B) |")


def test_rows_that_are_not_one_repeat_are_skipped(tmp_path):
    a, b = pair(tmp_path, {HELLO: A}, {HELLO: [900.0, 905.0, 895.0]})
    summary = b / "summary.json"
    rows = json.loads(summary.read_text())
    aggregate = dict(rows[0], row="mean", rate=5.0, repeat=0, case="go-http-L1-hello")
    summary.write_text(json.dumps([*rows, aggregate]))
    (case,) = compare.compare(a, b).cases
    assert case.b.n == 3 and case.b.mean == pytest.approx(900.0)


def test_runs_not_comparable_are_refused_unless_forced(tmp_path):
    a = make_run(tmp_path, "a", {HELLO: A})
    b = make_run(tmp_path, "b", {HELLO: A}, load_tool="wrk")
    with pytest.raises(UserError, match=r"not comparable with .*load_tool is 'wrk' in B but 'siege' in A;"
                       r".* or pass --force"):  # fmt: skip
        compare.compare(a, b)
    forced = compare.compare(a, b, force=True)
    assert forced.forced == ["load_tool is 'wrk' in B but 'siege' in A"]
    assert "compared anyway (--force): load_tool is 'wrk'" in forced.markdown()


def test_every_difference_that_makes_runs_not_comparable(tmp_path):
    a = make_run(tmp_path, "a", {HELLO: A})
    settings = json.loads((a / "manifest.json").read_text())["settings"]
    per = {name: dict(s, concurrency=50) for name, s in settings["scenario_settings"].items()}
    b = make_run(tmp_path, "b", {HELLO: A}, concurrency=100, scenario_settings=per)
    c = make_run(tmp_path, "c", {("gin", 4, "simple JSON"): A}, suite="fastapi_gin_2025")
    assert compare.differences(compare.open_run(a), compare.open_run(b)) == [
        "concurrency is 100 in B but 200 in A", "hello: concurrency is 50 in B but 200 in A"]  # fmt: skip
    (first, *_) = compare.differences(compare.open_run(a), compare.open_run(c))
    assert first == "suite is 'fastapi_gin_2025' in B but 'web_bench_2011' in A"
    assert compare.differences(compare.open_run(a), compare.open_run(a)) == []


# --- the ratio's interval against independent computations ------------------------------------


def test_fieller_interval_ends_solve_the_pivot_equation():
    """Each end is a root of (B̄ - r·Ā)² = t² (s²_B/n_B + r² s²_A/n_A), found by brentq here."""
    a, b = [1000.0, 1040.0, 960.0, 1010.0], [850.0, 930.0, 880.0, 910.0, 860.0]
    lo, hi = wstats.fieller_ci(a, b)
    ma, mb = np.mean(a), np.mean(b)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    r = mb / ma
    df = (vb + r**2 * va) ** 2 / (vb**2 / (len(b) - 1) + r**4 * va**2 / (len(a) - 1))
    t = stats.t.ppf(0.975, df)

    def pivot(x):
        return (mb - x * ma) ** 2 - t**2 * (vb + x**2 * va)

    assert lo == pytest.approx(optimize.brentq(pivot, 0.5, r), rel=1e-9)
    assert hi == pytest.approx(optimize.brentq(pivot, r, 1.5), rel=1e-9)
    assert lo < r < hi and hi - r > r - lo  # Fieller's interval leans away from 0


def test_fieller_interval_covers_the_true_ratio_95_percent_of_the_time():
    rng = np.random.default_rng(11)
    trials, covered = 2000, 0
    for _ in range(trials):
        a, b = rng.normal(1000, 60, 4), rng.normal(800, 20, 6)
        lo, hi = wstats.fieller_ci(list(a), list(b))
        covered += lo <= 0.8 <= hi
    assert 0.93 <= covered / trials <= 0.97


def test_fieller_interval_is_unbounded_when_a_is_not_clearly_above_zero():
    assert wstats.fieller_ci([1.0, 100.0], [50.0, 60.0]) is None
    assert wstats.fieller_ci([1000.0, 1000.0], [900.0, 900.0]) == (0.9, 0.9)


# --- the command: outputs and exit codes ------------------------------------------------------


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_markdown_on_stdout_and_both_files_in_run_b_exit_1_on_a_regression(tmp_path, capsys):
    slow = ("gin", 2, "hello")
    a, b = pair(tmp_path, {HELLO: A, slow: A}, {HELLO: A, slow: [900.0, 905.0, 895.0]})
    before = snapshot(b)
    assert cli.main(["compare", str(a), str(b)]) == 1
    out, err = capsys.readouterr()
    assert out == (b / "compare.md").read_text()
    assert out.rstrip().splitlines()[-1] == (
        "2 cases compared: 1 slower, 0 faster, 1 no significant change, 0 cannot tell."
    )
    assert "| gin | 2 | hello | 1,000.0 (5) | 900.0 (3) | 0.900 [0.8" in out
    assert "compare.md, compare.json and compare.html written in" in err and "replacing" not in err
    data = json.loads((b / "compare.json").read_text())
    assert data["exit_code"] == 1 and data["counts"]["slower"] == 1
    assert {k: v for k, v in snapshot(b).items() if not k.startswith("compare.")} == before

    assert cli.main(["compare", "--json", str(a), str(b)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == data and out == (b / "compare.json").read_text()
    assert "replacing the earlier comparison's" in err


@pytest.mark.parametrize(
    ("b_rates", "args", "code"),
    [([1000.0, 1001.0, 999.0], [], 0), ([1300.0, 1310.0, 1290.0], [], 0), ([500.0], [], 0),
     ([980.0, 981.0, 979.0], [], 0), ([980.0, 981.0, 979.0], ["--threshold", "1"], 1),
     ([900.0, 905.0, 895.0], ["--threshold", "20"], 0)],
)  # fmt: skip
def test_exit_codes(tmp_path, capsys, b_rates, args, code):
    a, b = pair(tmp_path, {HELLO: [1000.0, 1001.0, 999.0]}, {HELLO: b_rates})
    assert cli.main(["compare", *args, str(a), str(b)]) == code


def test_not_comparable_is_exit_2_and_writes_nothing_and_force_compares(tmp_path, capsys):
    a = make_run(tmp_path, "a", {HELLO: A})
    b = make_run(tmp_path, "b", {HELLO: [900.0, 905.0, 895.0]}, concurrency=100)
    before = snapshot(b)
    assert cli.main(["compare", str(a), str(b)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "concurrency is 100 in B but 200 in A" in err and "--force" in err
    assert snapshot(b) == before
    assert cli.main(["compare", "--force", str(a), str(b)]) == 1
    assert "not comparable, compared anyway (--force): concurrency" in capsys.readouterr().err


def test_too_few_repeats_says_how_to_tell(tmp_path, capsys):
    a, b = pair(tmp_path, {HELLO: [1000.0]}, {HELLO: [10.0]})
    assert cli.main(["compare", str(a), str(b)]) == 0
    out, err = capsys.readouterr()
    assert "| cannot tell: too few repeats (n=1 in A, n=1 in B) |" in out
    assert "1 case(s) cannot be told" in err and "--repeats 3" in err


# --- bad input: one line naming the file and the fix, exit 2, nothing written -----------------


def _bad_summary(content: bytes):
    def spoil(run: Path) -> None:
        (run / "summary.json").write_bytes(content)

    return spoil


def _edit_rows(change):
    def spoil(run: Path) -> None:
        rows = json.loads((run / "summary.json").read_text())
        change(rows)
        (run / "summary.json").write_text(json.dumps(rows))

    return spoil


BAD = {
    "no summary": (lambda run: (run / "summary.json").unlink(), "summary.json: no such file"),
    "no manifest": (lambda run: (run / "manifest.json").unlink(),
                    "not a results directory (no manifest.json)"),
    "invalid JSON": (_bad_summary(b"[{"), "summary.json: invalid JSON at line 1, column 3"),
    "not UTF-8": (_bad_summary(b'[{"a": "\xff"}]'), "summary.json: not UTF-8 (byte 8)"),
    "not a list": (_bad_summary(b"{}"), "summary.json: expected a JSON list of case rows"),
    "row not object": (_bad_summary(b"[1]"), "summary.json: row 1 is not a JSON object"),
    "another schema": (_edit_rows(lambda rows: rows[1].update(schema=9)), "row 2: case record schema 9"),
    "rate not a number": (_edit_rows(lambda rows: rows[0].update(rate="fast")),
                          "row 1: field 'rate' is 'fast', not a number"),
    "level not a number": (_edit_rows(lambda rows: rows[0].update(level="1")),
                           "row 1: field 'level' is '1', not a int"),
    "unknown field type": (_edit_rows(lambda rows: rows[0].update(attempts=[{"x": 1}])),
                           "row 1 is not a case record"),
    "manifest not JSON": (lambda run: (run / "manifest.json").write_text("no"),
                          "manifest.json: invalid JSON"),
}  # fmt: skip


@pytest.mark.parametrize("name", BAD)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, name):
    spoil, fragment = BAD[name]
    a, b = pair(tmp_path, {HELLO: A}, {HELLO: A})
    spoil(b)
    before = snapshot(b)
    assert cli.main(["compare", str(a), str(b)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.strip().splitlines()
    assert fragment in line, line
    assert "give" in line or "check" in line  # the fix
    assert snapshot(b) == before


def test_a_directory_that_is_no_run_and_a_bad_threshold(tmp_path, capsys):
    a = make_run(tmp_path, "a", {HELLO: A})
    for args, fragment in (
        ([str(a), str(tmp_path / "nope")], "nope: no such results directory"),
        ([str(tmp_path), str(a)], "not a results directory (no manifest.json)"),
        (["--threshold", "-1", str(a), str(a)], "--threshold -1: give a percentage from 0 to 100"),
        (["--threshold", "nan", str(a), str(a)], "--threshold nan: give a percentage"),
    ):
        assert cli.main(["compare", *args]) == 2
        out, err = capsys.readouterr()
        assert out == "" and fragment in err and len(err.strip().splitlines()) == 1


def test_an_output_name_taken_by_something_else_is_refused_and_nothing_is_written(tmp_path, capsys):
    a, b = pair(tmp_path, {HELLO: A}, {HELLO: A})
    (b / "compare.json").mkdir()
    assert cli.main(["compare", str(a), str(b)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "compare.json: exists and is not a file compare wrote; move it away" in err
    assert not (b / "compare.md").exists()


def test_welch_p_of_constant_repeats():
    assert compare.welch_p([5.0, 5.0], [4.0, 4.0, 4.0]) == 0.0
    assert compare.welch_p([5.0, 5.0], [5.0, 5.0]) == 1.0


def test_bad_input_has_no_traceback_from_the_command_line(tmp_path):
    a, b = pair(tmp_path, {HELLO: A}, {HELLO: A})
    (b / "summary.json").write_bytes(b"\xfe\xff")
    assert_one_line_exit_2(run_cli("compare", str(a), str(b)), "summary.json: not UTF-8 (byte 0)")


def test_each_run_is_described_with_the_repeats_its_settings_gave():
    adaptive = {
        "load_tool": "siege",
        "concurrency": 200,
        "duration_s": 20,
        "min_repeats": 3,
        "max_repeats": 6,
    }
    run = compare.Run(Path("results/a"), {"suite": "web_bench_2011", "settings": adaptive}, {})
    assert compare.describe(run).endswith("siege, 200 concurrent, 20 s per case, 3 to 6 repeat(s) per case")
    old = compare.Run(Path("results/b"), {"suite": "web_bench_2011", "settings": {"repeats": 1}}, {})
    assert compare.describe(old).endswith("1 repeat(s) per case")
