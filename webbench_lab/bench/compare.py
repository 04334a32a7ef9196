"""Two runs compared case by case (`webbench-lab compare RUN_A RUN_B`): did B get slower than A?

A case is (system, level, scenario); its figure is the rate (successful requests per second) of
each repeat whose status is ok, read from each run's summary.json through `CaseRecord.from_json`.
Rows of summary.json that are not one repeat's record (a `row` field other than "repeat", such as
an aggregate) are skipped: the repeats are grouped here.

For every case present in both runs:

- the ratio of the mean rates, B/A, with its 95% confidence interval by Fieller's theorem
  (bench/stats.py's fieller_ci; E. C. Fieller, "Some problems in interval estimation",
  J. R. Stat. Soc. B 16 (1954) 175-185):
  the set of ratios r for which B̄ - r·Ā is not significantly different from 0, i.e. the r with
  (B̄ - r·Ā)² <= t² (s²_B/n_B + r² s²_A/n_A), which is a quadratic in r. The two samples are
  independent and their variances may differ, so t is Student's quantile at the Welch-Satterthwaite
  degrees of freedom of B̄ - r·Ā, evaluated at r = B̄/Ā (a plug-in: the exact set would let the
  degrees of freedom vary with r). When Ā is itself not significantly different from 0
  (Ā² <= t² s²_A/n_A) the set is unbounded and no interval is given;
- the p-value of Welch's t-test of the two means (`scipy.stats.ttest_ind(equal_var=False)`);
- a verdict: `slower` (B's mean rate is lower than A's by more than the threshold, with p < 0.05),
  `faster` (higher by more than the threshold, with p < 0.05), `no significant change` (p >= 0.05,
  or a change within the threshold), or `cannot tell`: fewer than 2 ok repeats on a side (a
  t-test and an interval need a variance, which one value does not have: "too few repeats"), or
  no ok repeat at all. A case that cannot be told never fails the comparison;
- flags: generator-bound (any repeat, either run: that figure measures the generator) and samples
  missing (the bound is then unknown). The verdict is kept; the flag says how far to trust it.

Then the machine: when every case moved by about the same factor, the machine or the lab changed
between the runs, not each system. bench/shift.py gives that common shift (the median ratio, with
a Wilcoxon test that the cases moved together) and judges each case against it (`relative`:
slower or faster than the rest, or moved with the rest). The verdicts above are not changed by it.

Two runs are comparable when they ran the same suite with the same load tool and concurrency (the
suite's and each scenario's); otherwise the comparison is refused (exit 2) unless forced.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from webbench_lab.bench import shift
from webbench_lab.bench.record import CaseRecord
from webbench_lab.bench.results import read_manifest
from webbench_lab.bench.stats import ALPHA, CONFIDENCE, MIN_REPEATS, fieller_ci, welch_p
from webbench_lab.errors import UserError
from webbench_lab.fsutil import write_atomic
from webbench_lab.yamlfile import display, load_json

DEFAULT_THRESHOLD_PCT = 5.0
OUTPUTS = (
    "compare.md",
    "compare.json",
    "compare.html",
)  # compare's own files in RUN_B: the only ones it replaces
VERDICTS = ("slower", "faster", "no significant change", "cannot tell")
METHOD = (
    "B/A: ratio of the mean rates of the ok repeats, 95% CI by Fieller's theorem (Welch df); "
    "p: Welch's t-test"
)

CaseId = tuple[str, int, str]  # system, level, scenario


@dataclass
class Run:
    """One results directory, read: its manifest and its per-repeat records by case."""

    path: Path
    manifest: dict[str, Any]
    cases: dict[CaseId, list[CaseRecord]]


@dataclass
class Side:
    """One run's repeats of a case."""

    rates: list[float]  # of the ok repeats
    repeats: int  # every repeat, ok or not
    generator_bound: bool
    samples_missing: bool

    @property
    def n(self) -> int:
        return len(self.rates)

    @property
    def mean(self) -> float | None:
        return float(np.mean(self.rates)) if self.rates else None

    @property
    def sd(self) -> float | None:
        return float(np.std(self.rates, ddof=1)) if self.n >= 2 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "repeats": self.repeats, "mean": _round(self.mean, 2),
            "sd": _round(self.sd, 2), "rates": self.rates,
            "generator_bound": self.generator_bound, "samples_missing": self.samples_missing,
        }  # fmt: skip


@dataclass
class CaseComparison:
    system: str
    level: int
    scenario: str
    a: Side
    b: Side
    ratio: float | None
    ci: tuple[float, float] | None
    p: float | None
    verdict: str
    reason: str
    relative: shift.Relative | None = None  # B/A over the common shift of every case

    @property
    def flags(self) -> list[str]:
        flags = []
        for name, attr in (("generator-bound", "generator_bound"), ("samples missing", "samples_missing")):
            sides = [s for s, side in (("A", self.a), ("B", self.b)) if getattr(side, attr)]
            if sides:
                flags.append(f"{name} ({', '.join(sides)})")
        return flags

    def as_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "level": self.level, "scenario": self.scenario,
            "a": self.a.as_dict(), "b": self.b.as_dict(), "ratio": _round(self.ratio, 4),
            "ci": [_round(x, 4) for x in self.ci] if self.ci else None,
            "p": None if self.p is None else float(f"{self.p:.4g}"),
            "verdict": self.verdict, "reason": self.reason, "flags": self.flags,
            "relative": self.relative.as_dict() if self.relative else None,
        }  # fmt: skip


@dataclass
class Comparison:
    a: Run
    b: Run
    threshold_pct: float
    cases: list[CaseComparison]
    only_in_a: list[CaseId]
    only_in_b: list[CaseId]
    forced: list[str] = field(default_factory=list)  # the differences --force overrode
    common: shift.Shift | None = None  # the common shift of every case (bench/shift.py)

    @property
    def counts(self) -> dict[str, int]:
        return {v: sum(1 for c in self.cases if c.verdict == v) for v in VERDICTS}

    @property
    def exit_code(self) -> int:
        """1 when a case is slower (beyond the threshold, p < 0.05), else 0."""
        return 1 if self.slower else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": display(self.a.path), "b": display(self.b.path), "suite": self.b.manifest["suite"],
            "threshold_pct": self.threshold_pct, "alpha": ALPHA, "confidence": CONFIDENCE,
            "method": METHOD, "forced": self.forced,
            "complete": {"a": self.a.manifest.get("complete"), "b": self.b.manifest.get("complete")},
            "cases": [c.as_dict() for c in self.cases],
            "only_in_a": [_case_dict(c) for c in self.only_in_a],
            "only_in_b": [_case_dict(c) for c in self.only_in_b],
            "counts": self.counts, "exit_code": self.exit_code,
            "shift": self.common.as_dict() if self.common else None,
        }  # fmt: skip

    def json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"

    def markdown(self) -> str:
        thr = f"{self.threshold_pct:g}%"
        lines = [
            f"# compare: {display(self.b.path)} (B) against {display(self.a.path)} (A)",
            "",
            f"A: {describe(self.a)}.",
            f"B: {describe(self.b)}.",
            "",
            f"Rate: successful requests/s, mean of the ok repeats (n). {METHOD}. A verdict needs "
            f"p < {ALPHA:g}, a change beyond ±{thr} and at least {MIN_REPEATS} ok repeats on each "
            "side (else `cannot tell`).",
            "",
        ]
        if self.forced:
            lines += [f"Not comparable, compared anyway (--force): {'; '.join(self.forced)}.", ""]
        for side, run in (("A", self.a), ("B", self.b)):
            if run.manifest.get("complete") is not True:
                lines += [f"Run {side} is not complete: only its finished cases are compared.", ""]
        lines += ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
        lines += ["| " + " | ".join(table_row(c)) + " |" for c in self.cases]
        lines.append("")
        for side, missing in (("A", self.only_in_a), ("B", self.only_in_b)):
            if missing:
                names = ", ".join(f"{s} L{lv} {sc}" for s, lv, sc in missing)
                lines += [f"Only in {side} (not compared): {names}.", ""]
        lines += [f"{line}\n" for line in self.shift_lines()]
        lines.append(self.count_line())
        return "\n".join(lines) + "\n"

    def shift_lines(self) -> list[str]:
        """Whether the machine moved between the runs, and which cases moved apart from it."""
        apart = [
            (f"{c.system} L{c.level} {c.scenario}", c.relative)
            for c in self.cases
            if c.relative is not None and c.relative.verdict != shift.RELATIVE[2]
        ]
        return shift.lines(self.common, apart, len(self.cases))

    @property
    def slower(self) -> list[CaseComparison]:
        return [c for c in self.cases if c.verdict == "slower"]

    def count_line(self) -> str:
        counts = self.counts
        parts = ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
        return f"{len(self.cases)} cases compared: {parts}."


HEADER = ["system", "level", "scenario", "A mean (n)", "B mean (n)", "B/A [95% CI]", "p", "verdict", "flags"]


def table_row(c: CaseComparison) -> list[str]:
    """A case's row of compare.md's table (and compare.html's)."""
    verdict = c.verdict if c.verdict in ("slower", "faster") else f"{c.verdict}: {c.reason}"
    return [c.system, str(c.level), c.scenario, _mean_cell(c.a), _mean_cell(c.b), _ratio_cell(c),
            _p_cell(c.p), verdict, ", ".join(c.flags) or "-"]  # fmt: skip


def open_run(path: str | Path) -> Run:
    """A results directory that `webbench-lab bench` made: its manifest and its summary's repeats."""
    path = Path(path)
    where = display(path)
    if not path.is_dir():
        raise UserError(f"{where}: no such results directory; give one `webbench-lab bench` made")
    if not (path / "manifest.json").is_file():
        raise UserError(
            f"{where}: not a results directory (no manifest.json); give one `webbench-lab bench` made"
        )
    try:
        manifest = read_manifest(path / "manifest.json")
    except UserError as exc:
        raise UserError(f"{exc}; give a results directory `webbench-lab bench` made") from None
    if not (path / "summary.json").is_file():
        raise UserError(
            f"{display(path / 'summary.json')}: no such file: the run finished no case; "
            "give a run with finished cases"
        )
    cases: dict[CaseId, list[CaseRecord]] = {}
    for record in read_repeats(path / "summary.json"):
        cases.setdefault((record.system, record.level, record.scenario), []).append(record)
    return Run(path, manifest, cases)


def read_repeats(path: Path) -> list[CaseRecord]:
    """The per-repeat records of a summary.json; anything that is not one is one line naming it."""
    where = display(path)
    fix = "give the summary.json `webbench-lab bench` wrote"
    data = load_json(path, fix, unreadable="check its permissions")
    if not isinstance(data, list):
        raise UserError(f"{where}: expected a JSON list of case rows; {fix}")
    records = []
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise UserError(f"{where}: row {i} is not a JSON object; {fix}")
        if row.get("row", "repeat") != "repeat":  # an aggregate, not one repeat
            continue
        try:
            record = CaseRecord.from_json(row, f"{where}: row {i}")
        except (TypeError, AttributeError) as exc:
            raise UserError(f"{where}: row {i} is not a case record ({exc}); {fix}") from None
        except UserError as exc:  # another schema
            raise UserError(
                f"{exc}: give runs of this webbench-lab, or compare with the one that wrote it"
            ) from None
        for name, typ in (("system", str), ("level", int), ("scenario", str), ("status", str)):
            value = getattr(record, name)
            if not isinstance(value, typ) or isinstance(value, bool):
                raise UserError(f"{where}: row {i}: field '{name}' is {value!r}, not a {typ.__name__}; {fix}")
        if record.ok and not _is_number(record.rate):
            raise UserError(f"{where}: row {i}: field 'rate' is {record.rate!r}, not a number; {fix}")
        records.append(record)
    return records


def differences(a: Run, b: Run) -> list[str]:
    """What makes two runs not comparable: another suite, load tool or concurrency."""
    sa, sb = a.manifest["settings"], b.manifest["settings"]
    found = []
    if a.manifest["suite"] != b.manifest["suite"]:
        found.append(f"suite is {b.manifest['suite']!r} in B but {a.manifest['suite']!r} in A")
    for key in ("load_tool", "concurrency"):
        if sa.get(key) != sb.get(key):
            found.append(f"{key} is {sb.get(key)!r} in B but {sa.get(key)!r} in A")
    per_a, per_b = sa.get("scenario_settings") or {}, sb.get("scenario_settings") or {}
    for name in [n for n in per_a if n in per_b]:
        ca, cb = _get(per_a[name], "concurrency"), _get(per_b[name], "concurrency")
        if ca != cb:
            found.append(f"{name}: concurrency is {cb!r} in B but {ca!r} in A")
    return found


def compare(
    a_path: str | Path, b_path: str | Path, threshold_pct: float = DEFAULT_THRESHOLD_PCT, force: bool = False
) -> Comparison:
    if not 0 <= threshold_pct < 100:  # also refuses nan
        raise UserError(f"--threshold {threshold_pct:g}: give a percentage from 0 to 100, e.g. 5")
    a, b = open_run(a_path), open_run(b_path)
    diffs = differences(a, b)
    if diffs and not force:
        raise UserError(
            f"{display(b.path)} is not comparable with {display(a.path)}: {'; '.join(diffs)}; compare "
            "runs of the same suite, load tool and concurrency, or pass --force"
        )
    cases = [
        compare_case(key, _side(a.cases[key]), _side(b.cases[key]), threshold_pct)
        for key in a.cases
        if key in b.cases
    ]
    common = shift.common([(c.a.rates, c.b.rates) for c in cases])
    if common is not None:
        for c in cases:
            c.relative = shift.relative(c.a.rates, c.b.rates, common, threshold_pct)
    return Comparison(
        a, b, threshold_pct, cases,
        only_in_a=[k for k in a.cases if k not in b.cases],
        only_in_b=[k for k in b.cases if k not in a.cases],
        forced=diffs, common=common,
    )  # fmt: skip


def compare_case(key: CaseId, a: Side, b: Side, threshold_pct: float) -> CaseComparison:
    system, level, scenario = key
    ratio = b.mean / a.mean if a.mean and b.mean is not None else None

    def result(verdict: str, reason: str, ci=None, p=None) -> CaseComparison:
        return CaseComparison(system, level, scenario, a, b, ratio, ci, p, verdict, reason)

    short = [side for side, s in (("A", a), ("B", b)) if s.n < MIN_REPEATS]
    if short:
        if any(s.n == 0 for s in (a, b)):
            none = [side for side, s in (("A", a), ("B", b)) if s.n == 0]
            return result("cannot tell", f"no ok repeat in {' and '.join(none)}")
        ns = ", ".join(f"n={s.n} in {side}" for side, s in (("A", a), ("B", b)) if s.n < MIN_REPEATS)
        return result("cannot tell", f"too few repeats ({ns})")
    ci = fieller_ci(a.rates, b.rates)
    p = welch_p(a.rates, b.rates)
    threshold = threshold_pct / 100
    assert a.mean is not None and b.mean is not None
    if p < ALPHA:
        if b.mean < a.mean * (1 - threshold):
            return result("slower", f"{_pct(ratio)} with p < {ALPHA:g}", ci, p)
        if b.mean > a.mean * (1 + threshold):
            return result("faster", f"{_pct(ratio)} with p < {ALPHA:g}", ci, p)
        return result("no significant change", f"within ±{threshold_pct:g}%", ci, p)
    return result("no significant change", f"p >= {ALPHA:g}", ci, p)


def write_outputs(comparison: Comparison) -> list[str]:
    """compare.md, compare.json and compare.html in RUN_B, each atomically; only compare's own earlier outputs
    are replaced. Returns those it replaced."""
    targets = [comparison.b.path / name for name in OUTPUTS]
    for target in targets:  # checked before either is written: both or neither
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise UserError(
                f"{display(target)}: exists and is not a file compare wrote; move it away, "
                "compare writes its own compare.md, compare.json and compare.html there"
            )
    replaced = [t.name for t in targets if t.exists()]
    from webbench_lab.bench import comparehtml  # it imports this module

    texts = (comparison.markdown(), comparison.json(), comparehtml.html(comparison))
    for name, text in zip(OUTPUTS, texts, strict=True):
        target = comparison.b.path / name
        try:
            write_atomic(target, text)
        except OSError as exc:
            raise UserError(
                f"{display(target)}: cannot write: {exc.strerror}; make {display(comparison.b.path)} "
                "writable (compare writes only compare.md, compare.json and compare.html there)"
            ) from None
    return replaced


def _side(records: list[CaseRecord]) -> Side:
    ok = [r for r in records if r.ok]
    return Side(
        rates=[float(r.rate) for r in ok if r.rate is not None],
        repeats=len(records),
        generator_bound=any(r.generator_bound for r in ok),
        samples_missing=any(r.resources is not None and r.resources.samples_missing for r in ok),
    )


def describe(run: Run) -> str:
    """A run in one line: its directory, suite, load tool and settings."""
    s = run.manifest["settings"]
    low, high = s.get("min_repeats", s.get("repeats")), s.get("max_repeats", s.get("repeats"))
    repeats = f"{low}" if low == high else f"{low} to {high}"
    return (
        f"{display(run.path)}, suite {run.manifest['suite']}, {s.get('load_tool')}, "
        f"{s.get('concurrency')} concurrent, {s.get('duration_s')} s per case, "
        f"{repeats} repeat(s) per case"
    )


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _case_dict(key: CaseId) -> dict[str, Any]:
    return dict(zip(("system", "level", "scenario"), key, strict=True))


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _pct(ratio: float | None) -> str:
    return "from 0" if ratio is None else f"{(ratio - 1) * 100:+.1f}%"


def _mean_cell(side: Side) -> str:
    return "-" if side.mean is None else f"{side.mean:,.1f} ({side.n})"


def _ratio_cell(c: CaseComparison) -> str:
    if c.ratio is None:
        return "-"
    if c.ci is None:
        return f"{c.ratio:.3f}" + (" (unbounded)" if c.p is not None else "")
    return f"{c.ratio:.3f} [{c.ci[0]:.3f}, {c.ci[1]:.3f}]"


def _p_cell(p: float | None) -> str:
    if p is None:
        return "-"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
