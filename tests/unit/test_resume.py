"""`bench --resume DIR` without a lab: a run through the real command line and session.execute with
a fake lab and a fake runner, interrupted by Ctrl-C after some cases, then resumed in the same
directory; and every refusal (one line, exit 2, nothing written to DIR)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from webbench_lab.bench import resume, session
from webbench_lab.bench.livereport import LiveReport
from webbench_lab.bench.record import CaseRecord, Figures
from webbench_lab.bench.runner import Runner
from webbench_lab.cli import main as cli

ONLY = ["--only", "go-http,tornado", "--levels", "1,2", "--repeats", "1"]
PLANNED = ["go-http-L1-hello-r1", "go-http-L2-hello-r1", "tornado-L1-hello-r1", "tornado-L2-hello-r1"]
RAW = "gen1-siege-1.attempt-1.out"


class FakeLab:
    """A lab that starts no service (test_bench_services.py runs the real one)."""

    def __init__(self, inventory, keep_services: bool = False) -> None:
        self.inventory = inventory
        self.keep_services = keep_services
        self.started_services: list[str] = []

    def stop_started_services(self) -> tuple[list[str], list[str]]:
        return [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeRunner:
    """Writes each case's raw output then its record; `interrupt_at` (an index into the cases it is
    given) gets Ctrl-C after that case's raw output, before its case.json."""

    interrupt_at: int | None = None
    interrupt_on: str | None = None  # or the case with this key
    rates: ClassVar[dict[str, float]] = {}  # a case's rate (else 100 + its index)
    ran: ClassVar[list[str]] = []
    ceilings_measured: ClassVar[int] = 0
    suites: ClassVar[list] = []  # the suite each runner was given, as the run does it
    made: ClassVar[list] = []  # every runner made
    idle_window = Runner.idle_window

    def __init__(self, lab, suite, results, progress) -> None:
        self.suite, self.results, self.progress = suite, results, progress
        FakeRunner.suites.append(suite)
        FakeRunner.made.append(self)
        self.failed = 0
        self.ceilings: dict = {}

    def restore_cpu_limit(self) -> None:
        pass

    def measure_ceilings(self, cases) -> dict:
        """Like the runner's: only the ceilings not measured yet (one, c200)."""
        if "c200" not in self.ceilings:
            FakeRunner.ceilings_measured += 1
            self.ceilings["c200"] = {"rate": 5000.0, "generator_limited": True, "endpoint": "/Hello/100"}
        return self.ceilings

    def controls(self) -> list:
        return []

    def run(self, cases) -> None:
        for i, case in enumerate(cases):
            self.progress.case(case)
            FakeRunner.ran.append(case.key)
            self.results.write_text(self.results.case_dir(case) / RAW, f"raw output of {case.key}\n")
            if i == self.interrupt_at or case.key == self.interrupt_on:
                raise KeyboardInterrupt
            rate = self.rates.get(case.key, 100.0 + i)
            figures = Figures(rate, 1000, 0, 100.0, 1.0, 2.0, 3.0, 1.5, 1024)
            self.results.write_case(
                CaseRecord(
                    case=case.key, system=case.system, level=case.level, scenario=case.scenario,
                    endpoint=case.endpoint, repeat=case.repeat, status="ok",
                    load_tool=self.suite.load_tool, figures=figures,
                )
            )  # fmt: skip

    run_rounds = Runner.run_rounds

    def emergency_stop(self, systems) -> list[str]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """The session with a fake lab and runner; `lab.inventory` is what the manifest records."""
    fake = SimpleNamespace(inventory={"srv1": {"address": "198.18.0.3", "cpus": "1"}})
    monkeypatch.setattr(session, "load_inventory", lambda path: SimpleNamespace(hosts={}, group=lambda g: []))
    monkeypatch.setattr(session, "_inventory_without_secrets", lambda inv: fake.inventory)
    monkeypatch.setattr(session, "Lab", FakeLab)
    monkeypatch.setattr(session, "Runner", FakeRunner)
    monkeypatch.setattr(session, "LiveReport", lambda path: LiveReport(path, ["true"]))
    monkeypatch.setattr(session, "_audit", lambda results, lab: {"audit_error": "no lab", "versions": None})
    monkeypatch.setattr(session.collect, "git_commit", lambda: "c0ffee")
    monkeypatch.setattr(FakeRunner, "interrupt_at", None)
    monkeypatch.setattr(FakeRunner, "interrupt_on", None)
    monkeypatch.setattr(FakeRunner, "rates", {})
    monkeypatch.setattr(FakeRunner, "ran", [])
    monkeypatch.setattr(FakeRunner, "ceilings_measured", 0)
    fake.inv = tmp_path / "inventory.yml"
    fake.inv.write_text("all: {}\n")
    fake.root = tmp_path / "results"
    return fake


def bench(lab, *args: str) -> int:
    return cli.main(["bench", *args, "-i", str(lab.inv)])


def interrupted_run(lab, at: int = 2) -> Path:
    """A run of PLANNED stopped by Ctrl-C on case `at` (its raw output written, no case.json)."""
    FakeRunner.interrupt_at = at
    assert bench(lab, *ONLY, "--results", str(lab.root)) == 130
    (path,) = lab.root.iterdir()
    FakeRunner.interrupt_at, FakeRunner.ran = None, []
    return path


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(path)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file()
    }


def manifest(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_resume_runs_the_remaining_cases_and_keeps_the_finished_ones_untouched(lab, capsys):
    path = interrupted_run(lab, at=2)
    first = manifest(path)
    assert first["planned_cases"] == PLANNED and first["interrupted"] is True
    finished = {
        k: v for k, v in snapshot(path).items() if k.startswith(("cases/go-http-L1", "cases/go-http-L2"))
    }
    assert len(finished) == 4  # case.json and the raw output of both finished cases
    capsys.readouterr()

    assert first["generator_ceiling"]["c200"]["rate"] == 5000.0 and FakeRunner.ceilings_measured == 1
    assert bench(lab, "--resume", str(path)) == 0

    assert FakeRunner.ran == PLANNED[2:]
    # The run's ceiling is kept, not measured again and not moved into the last end's fields.
    assert FakeRunner.ceilings_measured == 1
    assert manifest(path)["generator_ceiling"] == first["generator_ceiling"]
    err = capsys.readouterr().err
    assert f"resuming {path}: 2 of 4 cases finished, 2 to run" in err
    after = snapshot(path)
    assert {k: after[k] for k in finished} == finished  # same bytes, never rewritten (same mtime)
    for key in PLANNED:
        assert (path / "cases" / key / "case.json").is_file()
    # What the interrupted case left is moved aside, not lost, and the case ran again.
    aside = path / "cases" / PLANNED[2] / "interrupted-1" / RAW
    assert aside.read_text() == f"raw output of {PLANNED[2]}\n"
    assert (path / "cases" / PLANNED[2] / RAW).read_text() == f"raw output of {PLANNED[2]}\n"
    assert not (path / "cases" / PLANNED[3] / "interrupted-1").exists()  # it had left nothing
    # Summary and report hold every case, in planned order.
    rows = json.loads((path / "summary.json").read_text())
    assert [r["case"] for r in rows if r["row"] == "repeat"] == PLANNED
    assert [r["case"] for r in rows if r["row"] == "aggregate"] == [k.removesuffix("-r1") for k in PLANNED]
    assert len((path / "summary.csv").read_text().splitlines()) == 1 + 4 + 4  # repeats, aggregates
    assert "Run complete: True" in (path / "report.md").read_text()
    # The first run's report is kept beside.
    assert "Run complete: False" in (path / "before-resume-1" / "report.md").read_text()

    m = manifest(path)
    assert m["complete"] is True and m["started"] == first["started"]
    assert "interrupted" not in m
    (entry,) = m["resumes"]
    assert entry["cases_kept"] == 2 and entry["cases_to_run"] == 2
    assert entry["cases_run"] == PLANNED[2:] and entry["complete"] is True
    assert entry["lab_commit"] == "c0ffee" and entry["ended"] and entry["leftovers"] == {}
    assert entry["moved_aside"] == {
        f"cases/{PLANNED[2]}": f"cases/{PLANNED[2]}/interrupted-1",
        "report.md": "before-resume-1/report.md",
        "report.html": "before-resume-1/report.html",
    }
    assert entry["previous_end"]["interrupted"] is True
    assert entry["previous_end"]["ended"] == first["ended"]


def test_a_resume_interrupted_in_turn_is_resumed_again(lab):
    path = interrupted_run(lab, at=2)
    FakeRunner.interrupt_at = 0
    assert bench(lab, "--resume", str(path)) == 130
    m = manifest(path)
    assert m["complete"] is False and m["interrupted"] is True
    assert m["resumes"][0]["cases_run"] == [] and m["resumes"][0]["complete"] is False
    FakeRunner.interrupt_at, FakeRunner.ran = None, []

    assert bench(lab, "--resume", str(path)) == 0

    assert FakeRunner.ran == PLANNED[2:]
    case_dir = path / "cases" / PLANNED[2]
    assert (case_dir / "interrupted-1" / RAW).is_file() and (case_dir / "interrupted-2" / RAW).is_file()
    m = manifest(path)
    assert [e["cases_kept"] for e in m["resumes"]] == [2, 2]
    assert m["resumes"][1]["moved_aside"][f"cases/{PLANNED[2]}"] == f"cases/{PLANNED[2]}/interrupted-2"
    assert m["complete"] is True


def test_resume_plan_from_the_case_json_present(lab):
    """Whatever the manifest's progress, a case is finished when it has its case.json."""
    path = interrupted_run(lab, at=3)
    (path / "cases" / PLANNED[1] / "case.json").unlink()  # as if the driver died before writing it
    run = resume.open_run(str(path))
    assert [c.key for c in run.remaining] == [PLANNED[1], PLANNED[3]]
    assert list(run.results.records) == [PLANNED[0], PLANNED[2]]
    assert run.results.records[PLANNED[2]].rate == 102.0  # read back from its case.json
    assert run.line() == f"resuming {path}: 2 of 4 cases finished, 2 to run"


def test_dry_run_prints_the_remaining_cases_and_writes_nothing(lab, capsys):
    path = interrupted_run(lab, at=3)
    before = snapshot(path)
    capsys.readouterr()
    assert bench(lab, "--resume", str(path), "--dry-run") == 0
    printed = capsys.readouterr().out
    assert PLANNED[3] in printed and PLANNED[0] not in printed
    assert snapshot(path) == before


def test_options_that_match_the_recorded_settings_are_accepted(lab):
    path = interrupted_run(lab, at=3)
    args = ("--suite", "web_bench_2011", "--only", "tornado,go-http", "--levels", "1,2", "--duration", "20")
    assert bench(lab, "--resume", str(path), *args) == 0
    assert FakeRunner.ran == PLANNED[3:]


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


REFUSALS = {
    "no manifest": (lambda p: (p / "manifest.json").unlink(), [], "not a results directory (no manifest.jso"),
    "no suite copy": (lambda p: (p / "suite.yml").unlink(), [], "not a results directory (no suite.yml)"),
    "manifest not UTF-8": (
        lambda p: (p / "manifest.json").write_bytes(b'{"suite": "\xff"}'), [], "manifest.json: not UTF-8"
    ),
    "manifest invalid JSON": (
        lambda p: (p / "manifest.json").write_text('{"suite": '), [], "manifest.json: invalid JSON at line 1"
    ),
    "manifest without settings": (
        lambda p: _edit_json(p / "manifest.json", lambda m: m.pop("settings")), [],
        "manifest.json: field 'settings' missing",
    ),
    "suite copy no longer loads": (
        lambda p: (p / "suite.yml").write_text((p / "suite.yml").read_text() + "sponsor: x\n"), [],
        "suite.yml: unknown field 'sponsor'",
    ),
    "suite copy edited": (
        lambda p: (p / "suite.yml").write_text((p / "suite.yml").read_text().replace("up: 3", "up: 5")),
        [], "settings.warmup_s is 3 but the kept suite.yml gives 5",
    ),
    "settings edited": (
        lambda p: _edit_json(p / "manifest.json", lambda m: m["settings"].update(concurrency=50)), [],
        "settings.concurrency is 50",
    ),
    "settings name a system the suite lacks": (
        lambda p: _edit_json(p / "manifest.json", lambda m: m["settings"].update(systems=["nope"])), [],
        "field 'settings' no longer fits the kept suite.yml",
    ),
    "planned cases differ": (
        lambda p: _edit_json(p / "manifest.json", lambda m: m["planned_cases"].reverse()), [],
        "field 'planned_cases' differs",
    ),
    "a finished case.json broken": (
        lambda p: (p / "cases" / PLANNED[0] / "case.json").write_text("{"), [],
        f"cases/{PLANNED[0]}/case.json: invalid JSON",
    ),
}  # fmt: skip
FLAG_REFUSALS = {
    "another suite": (["--suite", "fastapi_gin_2025"], "--suite fastapi_gin_2025: the run is of"),
    "other systems": (["--only", "go-http"], "--only go-http: the run recorded settings.systems"),
    "other levels": (["--levels", "1"], "--levels 1: the run recorded settings.levels"),
    "other duration": (["--duration", "7"], "--duration 7: the run recorded settings.duration_s"),
    "other repeats": (
        ["--repeats", "2"],
        "--repeats 2: the run recorded settings.min_repeats and max_repeats 1",
    ),
    "other tool": (["--load-tool", "wrk"], "--load-tool wrk: the run recorded settings.load_tool"),
    "quick": (["--quick"], "--quick: the run recorded settings.quick False"),
    "no calibration": (["--no-calibrate"], "--no-calibrate: the run recorded settings.calibrate True"),
    "another results root": (["--results", "elsewhere"], "--results elsewhere: a resumed run"),
}
REFUSALS.update({k: (lambda p: None, *v) for k, v in FLAG_REFUSALS.items()})


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_are_one_line_exit_2_and_write_nothing(lab, capsys, name):
    path = interrupted_run(lab, at=2)
    change, args, fragment = REFUSALS[name]
    change(path)
    before = snapshot(path)
    capsys.readouterr()
    assert bench(lab, "--resume", str(path), *args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert fragment in lines[0] and "Traceback" not in captured.err
    assert captured.out == ""
    assert snapshot(path) == before
    assert FakeRunner.ran == []


def test_another_inventory_is_refused_before_anything_runs(lab, capsys):
    path = interrupted_run(lab, at=2)
    lab.inventory = {"srv1": {"address": "192.0.2.7", "cpus": "1"}}
    before = snapshot(path)
    capsys.readouterr()
    assert bench(lab, "--resume", str(path)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "inventory.srv1.address is '192.0.2.7' now but '198.18.0.3' in the run" in line
    assert snapshot(path) == before and FakeRunner.ran == []


def test_a_complete_run_is_refused(lab, capsys):
    assert bench(lab, *ONLY, "--results", str(lab.root)) == 0
    (path,) = lab.root.iterdir()
    assert manifest(path)["complete"] is True
    before = snapshot(path)
    capsys.readouterr()
    assert bench(lab, "--resume", str(path)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert (
        "the run is complete (every one of its 4 planned cases has its case.json): nothing to resume" in line
    )
    assert snapshot(path) == before


@pytest.mark.parametrize("where", ["missing", "not a directory"])
def test_a_path_that_is_no_results_directory(lab, capsys, tmp_path, where):
    path = tmp_path / "nothing"
    if where == "not a directory":
        path.write_text("x")
    assert bench(lab, "--resume", str(path)) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nothing: no such results directory" in line


def test_a_finished_case_is_never_written_again(lab):
    path = interrupted_run(lab, at=2)
    run = resume.open_run(str(path))
    with pytest.raises(ValueError, match="finished before this resume"):
        run.results.write_case(run.results.records[PLANNED[0]])


def test_complete_only_when_every_planned_case_has_its_case_json(lab):
    path = interrupted_run(lab, at=2)
    run = resume.open_run(str(path))
    results = run.results
    results.start_manifest(
        suite="web_bench_2011", settings=results.manifest["settings"], planned_cases=PLANNED[2:],
        inventory=lab.inventory, lab_commit="c0ffee",
    )  # fmt: skip
    results.write_case(CaseRecord(PLANNED[2], "tornado", 1, "hello", "/Hello/100", 1, status="failed"))
    results.finish_manifest(True)
    m = manifest(path)
    assert m["complete"] is False and m["resumes"][0]["complete"] is False
    assert m["resumes"][0]["cases_run"] == [PLANNED[2]]
    assert results.failed_before == 0


def test_a_run_interrupted_in_an_extra_round_resumes_it_then_decides_the_next_rounds_again(lab):
    """No adaptive state is kept but the case.json files and `extra_cases`: the resume runs the
    extra case left, then decides from every finished case as the run would have."""
    keys = [f"go-http-L1-hello-r{n}" for n in range(1, 7)]
    FakeRunner.rates = dict(zip(keys, [1000.0, 1300.0, 800.0, 1200.0, 700.0, 1300.0], strict=True))
    FakeRunner.interrupt_on = keys[4]
    assert bench(lab, "--only", "go-http", "--levels", "1", "--results", str(lab.root)) == 130
    (path,) = lab.root.iterdir()
    first = manifest(path)
    assert first["planned_cases"] == keys[:3] and first["extra_cases"] == keys[3:5]
    assert first["complete"] is False and FakeRunner.ran == keys[:5]
    FakeRunner.interrupt_on, FakeRunner.ran = None, []
    assert bench(lab, "--resume", str(path)) == 0
    assert FakeRunner.ran == keys[4:]  # the one left, then one more round: 6 is the maximum
    m = manifest(path)
    assert m["extra_cases"] == keys[3:] and m["complete"] is True
    assert m["resumes"][0]["cases_run"] == keys[4:] and m["resumes"][0]["cases_to_run"] == 2
    assert (path / "cases" / keys[4] / "interrupted-1" / RAW).is_file()
    rows = json.loads((path / "summary.json").read_text())
    (agg,) = [r for r in rows if r["row"] == "aggregate"]
    assert agg["n"] == 6 and agg["rate"] == pytest.approx(1050.0)
    assert bench(lab, "--resume", str(path)) == 2  # complete now


def test_a_manifest_from_before_adaptive_repeats_resumes_with_its_fixed_count(lab):
    path = interrupted_run(lab, at=2)
    data = manifest(path)
    settings = data["settings"]
    for key in ("min_repeats", "max_repeats", "target_ci_pct"):
        del settings[key]
    settings["repeats"] = 1  # as webbench-lab wrote it before issue 11
    (path / "manifest.json").write_text(json.dumps(data))
    assert bench(lab, "--resume", str(path)) == 0
    assert FakeRunner.ran == PLANNED[2:] and manifest(path)["complete"] is True


def test_a_quick_run_proves_the_server_idle_for_a_second_a_full_one_for_two(lab):
    assert bench(lab, *ONLY, "--quick", "--results", str(lab.root / "quick")) == 0
    assert FakeRunner.made[-1].idle_window == 1.0
    assert bench(lab, *ONLY, "--results", str(lab.root / "full")) == 0
    assert FakeRunner.made[-1].idle_window == 2.0


def test_a_calibrating_run_resumes_calibrating(lab):
    path = interrupted_run(lab, at=2)
    assert manifest(path)["settings"]["calibrate"] is True
    assert bench(lab, "--resume", str(path), "--calibrate") == 0  # what it recorded: accepted
    assert FakeRunner.suites[-1].calibrate is True


def test_a_run_from_before_calibration_resumes_without_it(lab):
    old = interrupted_run(lab, at=2)
    data = manifest(old)
    del data["settings"]["calibrate"]  # as webbench-lab wrote it before calibration
    (old / "manifest.json").write_text(json.dumps(data))
    kept = (old / "suite.yml").read_text()
    (old / "suite.yml").write_text("\n".join(x for x in kept.splitlines() if not x.startswith("calibrate:")))
    assert bench(lab, "--resume", str(old)) == 0
    assert FakeRunner.suites[-1].calibrate is False


@pytest.mark.parametrize("duration", [None, "7"])
def test_a_lab_b_run_resumes_with_each_scenarios_own_settings_or_the_duration_it_was_given(lab, duration):
    """Lab B's CPU-bound scenario runs 60 s of its own: a run without --duration records the
    suite's 20 s beside it, and resuming must not turn that into --duration 20."""
    args = ["--suite", "fastapi_gin_2025", "--only", "gin", "--repeats", "1"]
    args += ["--duration", duration] if duration else []
    FakeRunner.interrupt_at = 1
    assert bench(lab, *args, "--results", str(lab.root)) == 130
    (path,) = lab.root.iterdir()
    FakeRunner.interrupt_at = None
    run = resume.open_run(str(path))
    cpu = next(c for c in run.cases if c.scenario == "CPU-bound")
    assert cpu.duration == (int(duration) if duration else 60) and cpu.concurrency == 8
    assert run.opts.duration == (int(duration) if duration else None)
    assert bench(lab, "--resume", str(path)) == 0
    assert manifest(path)["complete"] is True
