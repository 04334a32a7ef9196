"""report.html from stored runs (tests/fixtures/results, made by build.py there): every chart is
present, and every flagged case is marked on its chart, checked against the case.json files."""

from __future__ import annotations

import base64
import json
import re
import shutil
from functools import cache
from pathlib import Path

import pytest

from webbench_lab.apps.systems import all_systems
from webbench_lab.bench import charts, htmlreport, rerender
from webbench_lab.bench.results import ResultsDir
from webbench_lab.cli.main import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "results"
# A chart of the page: its id, its marks (JSON, in single quotes) and its SVG.
FIGURE = r"<figure id=\"([^\"]+)\" data-marks='([^']*)'>\s*<img src=\"data:image/svg\+xml;base64,([^\"]+)\""


@cache
def rendered(name: str) -> tuple[str, dict[str, str], dict[str, dict[str, list[str]]]]:
    """The page of a fixture, each chart's SVG by id and each chart's marks (its data-marks)."""
    page = rerender.render(FIXTURES / name)["report.html"]
    svgs, marks = {}, {}
    for m in re.finditer(FIGURE, page):
        svgs[m[1]] = base64.b64decode(m[3]).decode()
        marks[m[1]] = json.loads(m[2])
    return page, svgs, marks


def cases(name: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / name / "cases").glob("*/case.json"))]


def expected_flags(rows: list[dict]) -> set[str]:
    """The flags a case's repeats give, read from the JSON itself (not through record.aggregate)."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return {"not buildable" if rows[0]["status"] == "not buildable" else "failed"}
    found = set()
    if any(r.get("generator_bound") for r in ok):
        found.add("generator-bound")
    if any(r.get("samples_missing") or r.get("generator_bound") is None for r in ok):
        found.add("samples missing")
    if rows[0].get("oversubscribed"):
        found.add("oversubscribed")
    if any(r.get("retried") for r in ok):
        found.add("retried")
    if len(ok) < len(rows):
        found.add("repeats failed")
    return found


def by_case(name: str) -> dict[tuple[str, int, str], list[dict]]:
    out: dict[tuple[str, int, str], list[dict]] = {}
    for row in cases(name):
        out.setdefault((row["system"], row["level"], row["scenario"]), []).append(row)
    return out


def test_lab_a_has_a_chart_per_level_and_the_scaling_chart_and_every_flag_is_marked():
    page, svgs, marks = rendered("lab-a")
    names = all_systems()
    assert {"lab-a-level-1", "lab-a-level-2", "lab-a-level-4", "lab-a-scaling"} <= set(svgs)
    flagged = 0
    for (system, level, _), rows in by_case("lab-a").items():
        want = expected_flags(rows)
        label = names[system].display
        assert set(marks[f"lab-a-level-{level}"].get(label, [])) == want, (system, level)
        assert set(marks["lab-a-scaling"].get(f"{label} / level {level}", [])) == want
        flagged += bool(want)
    assert flagged >= 8  # two systems not buildable at 3 levels, generator-bound cases
    # The flags are drawn on the chart itself (text in the SVG), and the published bars are there.
    level1 = svgs["lab-a-level-1"]
    assert "not buildable" in level1 and "gen-bound" in level1 and "published (2011)" in level1
    assert "normalised to Go http" in level1
    assert "published (dashed)" in svgs["lab-a-scaling"]
    assert "Server cores: 1 (cpuset 1) here, 2 in the published lab." in page


def test_lab_b_has_qps_latency_and_memory_charts_with_every_flag_marked():
    page, svgs, marks = rendered("lab-b")
    names = all_systems()
    charts = [f"lab-b-{c}-level-4" for c in ("qps", "p50", "p99", "memory")]
    assert set(charts) <= set(svgs)
    assert 'class="flag"' in page
    for (system, _level, scenario), rows in by_case("lab-b").items():
        want = expected_flags(rows)
        for chart in charts:
            assert set(marks[chart].get(f"{scenario} / {names[system].display}", [])) == want
    assert "published" in svgs["lab-b-qps-level-4"]
    assert "<path" in svgs["lab-b-qps-level-4"]
    assert "CPU-bound: 8 concurrent, 60 s, 60 s request timeout instead of 100 concurrent, 20 s" in page


def test_a_run_with_every_flag_marks_each_case_and_says_it_was_interrupted():
    page, svgs, marks = rendered("synthetic")
    level1, level2 = marks["lab-a-level-1"], marks["lab-a-level-2"]
    assert level1 == {
        "Go http": ["generator-bound"],
        "Twister": ["not buildable"],
        "Tornado": ["generator-bound", "retried"],
        "Web.py+gevent": ["samples missing"],
        "Web.py+nginx": ["failed"],
    }
    assert level2 == {
        "Go http": ["generator-bound", "oversubscribed"],
        "Tornado": ["oversubscribed"],
        "Twister": ["not run"],
        "Web.py+gevent": ["not run"],
        "Web.py+nginx": ["not run"],
    }
    for word in ("failed", "not run", "samples?", "oversub.", "retried"):
        assert word in svgs["lab-a-level-1"] + svgs["lab-a-level-2"], word
    assert "<td>interrupted</td>" in page
    assert "No audit of the hosts: lab-server: connection lost" in page
    assert "Server CPU limit: 0.5 core(s) here; the published lab had none." in page
    assert "<td>0.5 core(s)</td>" in page  # the server's row of the hosts table
    assert "Server CPU: limited to 0.5 core(s) of CPU time" in page  # report.lab_lines
    assert "webpy-nginx-L1-hello-r1</code>: failed: verify: GET /Hello/100 answered 502" in page


def test_samples_become_a_time_series_per_case_with_samples():
    _, svgs, _ = rendered("lab-a")
    with_samples = sorted(
        p.parent.name.rpartition("-r")[0] for p in (FIXTURES / "lab-a" / "cases").glob("*/samples-*server*")
    )
    assert sorted(k.removeprefix("samples-") for k in svgs if k.startswith("samples-")) == with_samples
    for case in with_samples:
        svg = svgs[f"samples-{case}"]
        assert "generator CPU %" in svg and "server CPU %" in svg and "server RSS MB" in svg
        assert "limit" not in svg  # lab-a's server had no CPU limit


def test_the_server_cpu_panel_draws_the_servers_cpu_limit():
    _, svgs, _ = rendered("synthetic")
    samples = [svg for key, svg in svgs.items() if key.startswith("samples-")]
    assert samples and all("limit 0.5 core(s)" in svg for svg in samples)


def test_the_page_is_self_contained_and_rendering_again_gives_the_same_bytes():
    first = rerender.render(FIXTURES / "lab-b")["report.html"]
    assert first == rerender.render(FIXTURES / "lab-b")["report.html"]
    assert "<script" not in first and "http://" not in first.replace("http://www.w3.org", "")
    assert not re.search(r'(src|href)="(?!data:)', first)


def test_text_from_a_run_is_escaped(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "synthetic", run)
    case = run / "cases" / "webpy-nginx-L1-hello-r1" / "case.json"
    data = json.loads(case.read_text())
    data["reason"] = "<script>alert(1)</script> & more"
    case.write_text(json.dumps(data))
    page = rerender.render(run)["report.html"]
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_report_command_writes_only_its_two_files(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "lab-a", run)
    before = snapshot(run)
    assert main(["report", str(run), "--open"]) == 0
    after = snapshot(run)
    assert set(after) - set(before) == {"report.md", "report.html"}
    assert all(after[k] == v for k, v in before.items())
    out = capsys.readouterr().out
    assert out == (run / "report.html").resolve().as_uri() + "\n"
    assert "| Twister | not buildable |" in after["report.md"].decode()
    assert after["report.html"] == rerender.render(run)["report.html"].encode()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda run: shutil.rmtree(run), "no such results directory"),
        (lambda run: (run / "suite.yml").unlink(), "not a results directory (no suite.yml)"),
        (lambda run: (run / "manifest.json").write_text("{"), "manifest.json: invalid JSON at line 1"),
        (
            lambda run: (run / "manifest.json").write_bytes(b'{"a": "\xff"}'),
            "manifest.json: not UTF-8 (byte 7)",
        ),
        (
            lambda run: (run / "cases" / "go-http-L1-hello-r1" / "case.json").write_text("[1"),
            "go-http-L1-hello-r1/case.json: invalid JSON",
        ),
        (lambda run: (run / "audit.json").write_text("nope"), "audit.json: invalid JSON at line 1, column 1"),
        (
            lambda run: (run / "audit.json").write_text('{"hosts": []}'),
            "audit.json: not an audit (no 'hosts'",
        ),
        (lambda run: (run / "report.html").mkdir(), "report.html: exists and is not a report"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, spoil, message):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "lab-a", run)
    spoil(run)
    before = snapshot(run) if run.exists() else {}
    assert main(["report", str(run)]) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and "Traceback" not in err and out == ""
    assert (snapshot(run) if run.exists() else {}) == before


def test_the_end_of_a_run_writes_report_html_and_report_renders_the_same_bytes_again(tmp_path):
    from webbench_lab.bench.livereport import LiveReport
    from webbench_lab.bench.plan import Options, effective_suite
    from webbench_lab.bench.session import _finish
    from webbench_lab.bench.suites import load_suite

    src = FIXTURES / "synthetic"
    kept = ResultsDir.resume(src)
    settings = kept.manifest["settings"]
    results = ResultsDir(tmp_path, "synthetic")
    shutil.copyfile(src / "suite.yml", results.path / "suite.yml")
    shutil.copyfile(src / "manifest.json", results.path / "manifest.json")
    shutil.copytree(src / "cases", results.path / "cases")
    results.manifest, results.records = kept.manifest, kept.records
    # The suite as the session has it: the options of the command line, not the manifest.
    opts = Options(only=settings["systems"], levels=settings["levels"], repeats=settings["repeats"])
    _finish(
        results,
        effective_suite(load_suite(str(src / "suite.yml"), "web_bench_2011"), opts),
        LiveReport(results.path, ["true"]),
        complete=False,
        interrupted=True,
    )
    page = (results.path / "report.html").read_text()
    assert 'id="lab-a-level-2"' in page and "<td>interrupted</td>" in page
    again = rerender.render(results.path)
    assert again["report.html"] == page
    assert again["report.md"] == (results.path / "report.md").read_text()


def test_flags_of_a_missing_case_depend_on_whether_the_run_is_complete():
    assert htmlreport.flags(None, complete=True) == []
    assert htmlreport.flags(None, complete=False) == ["not run"]


def test_compare_html_draws_every_case_with_its_verdict_and_flags(tmp_path, capsys):
    from tests.unit.test_compare import HELLO, make_run

    slow, told = ("tornado", 1, "hello"), ("webpy-nginx", 1, "hello")
    rates_a = {HELLO: [1000.0, 1001.0, 999.0], slow: [500.0, 505.0, 495.0], told: [100.0]}
    rates_b = {HELLO: [1000.0, 1002.0, 998.0], slow: [400.0, 404.0, 396.0], told: [90.0]}
    a = make_run(tmp_path, "a", rates_a)
    b = make_run(tmp_path, "b", rates_b, bound={slow})
    assert main(["compare", str(a), str(b)]) == 1
    assert "compare.md, compare.json and compare.html written in" in capsys.readouterr().err
    page = (b / "compare.html").read_text()
    (m,) = re.finditer(FIGURE, page)
    assert m[1] == "forest"
    assert json.loads(m[2]) == {
        "go-http L1 hello": ["no significant change"],
        "tornado L1 hello": ["slower", "generator-bound (B)"],
        "webpy-nginx L1 hello": ["cannot tell"],
    }
    svg = base64.b64decode(m[3]).decode()
    assert "generator-bound (B)" in svg and "B/A (ratio of the mean rates, 95% CI)" in svg
    assert "<td>0.800 [0." in page and "1 slower, 0 faster, 1 no significant change, 1 cannot tell" in page


@pytest.mark.parametrize("suite_name", ["web_bench_2011", "fastapi_gin_2025"])
@pytest.mark.parametrize(
    "opts",
    [{}, {"quick": True}, {"duration": 5}, {"only": ["go-http", "gin"], "levels": [1, 2], "repeats": 2},
     {"load_tool": "wrk", "quick": True}],
    ids=["as-is", "quick", "duration", "narrowed", "wrk-quick"],
)  # fmt: skip
def test_report_rebuilds_the_suite_the_run_used_from_its_manifest(tmp_path, suite_name, opts):
    import dataclasses

    from webbench_lab.bench.plan import Options, effective_suite, run_settings
    from webbench_lab.bench.suites import SUITES, load_suite

    suite = load_suite(suite_name)
    options = Options(
        **{k: [x for x in v if x in suite.systems] if k == "only" else v for k, v in opts.items()}
    )
    used = effective_suite(suite, options)
    shutil.copyfile(SUITES / f"{suite_name}.yml", tmp_path / "suite.yml")
    manifest = {"suite": suite_name, "settings": json.loads(json.dumps(run_settings(used, options)))}
    rebuilt = rerender.run_suite(tmp_path, manifest)
    assert dataclasses.replace(rebuilt, path=None) == dataclasses.replace(used, path=None)


def test_a_cpu_limit_the_audit_saw_is_shown_for_its_host(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "lab-b", run)
    audit = json.loads((run / "audit.json").read_text())
    audit["hosts"]["lab-server"]["system"]["cpu_limit"] = {
        "cores": 0.333,
        "quota_us": 3330,
        "period_us": 10000,
    }
    (run / "audit.json").write_text(json.dumps(audit))
    page = rerender.render(run)["report.html"]
    row = re.search(r"<tr><td>lab-server</td>.*?</tr>", page)[0]
    assert "<td>0.333 core(s)</td>" in row
    assert "<td>none</td>" in re.search(r"<tr><td>lab-generator</td>.*?</tr>", page)[0]
    assert "Server CPU limit: 0.333 core(s) here; the published lab had none." in page


def test_a_run_renders_its_reports_again_after_each_case_in_the_background(tmp_path):
    """The live render is `webbench-lab report` on the directory, at nice 19, one at a time: a case
    written while one still renders starts none; the end waits for it."""
    from webbench_lab.bench.livereport import LiveReport

    path = tmp_path / "run"
    shutil.copytree(FIXTURES / "synthetic", path)
    (path / "report.html").unlink(missing_ok=True)
    live = LiveReport(path)
    live.kick()
    assert live.child is not None
    assert int(Path(f"/proc/{live.child.pid}/stat").read_text().rsplit(")", 1)[1].split()[16]) == 19
    live.kick()  # still rendering: no second one
    assert live.started == 1
    # At nice 19 the render gets only what the machine leaves: `make test` runs the unit tests
    # beside a lab being provisioned, where it once took over the run's own 120 s bound.
    live.wait(timeout=900)
    assert live.child.returncode == 0
    assert (path / "report.html").read_text() == rerender.render(path)["report.html"]
    slow = LiveReport(path, ["sleep", "30"])
    slow.kick()
    slow.wait(timeout=0.2)  # stopped, not waited for
    assert slow.child is not None and slow.child.returncode is not None


def test_a_page_that_cannot_be_drawn_costs_the_run_nothing_but_the_page(tmp_path, monkeypatch, capsys):
    from webbench_lab.bench import session
    from webbench_lab.bench.livereport import LiveReport
    from webbench_lab.bench.suites import load_suite

    results = ResultsDir(tmp_path, "web_bench_2011")

    def broken(*_args):
        raise ModuleNotFoundError("No module named 'matplotlib'")

    monkeypatch.setattr(session.htmlreport, "page", broken)
    session._finish(results, load_suite("web_bench_2011"), LiveReport(results.path, ["true"]), complete=True)
    assert (results.path / "report.md").is_file() and not (results.path / "report.html").exists()
    assert json.loads((results.path / "manifest.json").read_text())["complete"] is True
    err = capsys.readouterr().err
    assert "report.html not written (ModuleNotFoundError: No module named 'matplotlib')" in err


def test_the_state_of_a_run_that_has_not_ended_names_both_what_it_may_be_and_the_way_on():
    from webbench_lab.bench.htmlreport import run_state

    assert run_state({"complete": True, "resumes": [{}]}) == "complete, resumed 1 time(s)"
    assert run_state({"complete": False, "interrupted": True}) == "interrupted"
    state = run_state({"complete": False, "ended": None})
    assert state.startswith("not finished: running") and "bench --resume" in state


def test_a_flag_on_every_bar_is_said_once_and_a_partial_one_names_its_bars():
    marks = {"a": ["oversubscribed"], "b": ["oversubscribed", "failed"]}
    chart = charts.Chart("c", "t", "<svg/>", marks, drawn=2)
    assert chart.by_flag == {"oversubscribed": ["every bar"], "failed": ["b"]}
    uncounted = charts.Chart("c", "t", "<svg/>", {"a": ["oversubscribed"]})
    assert uncounted.by_flag == {"oversubscribed": ["a"]}
