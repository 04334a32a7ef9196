"""A load tool that hangs is killed and the case measured again: the runner's `_measure` with the
real agent, real signals and a real results directory, on this machine, with a small fake tool in
place of siege (the real siege's hang is rare; the e2e bench runs with it)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from webbench_lab.apps.systems import get as get_system
from webbench_lab.bench import report
from webbench_lab.bench.plan import Case
from webbench_lab.bench.record import CaseRecord, Figures, Resources
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.runner import Runner
from webbench_lab.bench.suites import load_suite
from webbench_lab.defaults import host_vars
from webbench_lab.hosts.control import HostControl, read_answer

AGENT = Path(__file__).resolve().parents[2] / "webbench_lab" / "agent" / "appctl.py"
SIEGE_OUTPUT = Path(__file__).resolve().parents[1] / "fixtures" / "loadtools" / "siege-go-http-c200.txt"

# argv: mode, counter file. Modes: ok, hang (every time), hang-once, silent-once, summary-on-sigint.
FAKE_TOOL = """
import os, signal, sys, time
mode, counter, output = sys.argv[1], sys.argv[2], sys.argv[3]
n = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
open(counter, "w").write(str(n))
def summary(*_):
    sys.stdout.write(open(output).read())
    sys.stdout.flush()
    sys.exit(0)
if mode == "silent-once" and n == 1:
    sys.exit(0)  # like siege 4.0.7 now and then: exits at once without a word
if mode == "hang" or (mode == "hang-once" and n == 1):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # like siege 4.0.7's deadlock: prints nothing
    time.sleep(120)
if mode == "summary-on-sigint":
    signal.signal(signal.SIGINT, summary)
    time.sleep(120)
summary()
"""


class LocalControl(HostControl):
    """A HostControl on this machine: the real agent, under its own run root and marker, reached
    without SSH (its typed commands and the answer parsing are HostControl's own)."""

    def __init__(self, name: str, root: Path, marker: str) -> None:  # no connection to open
        self.host = SimpleNamespace(
            name=name, bench_address="127.0.0.1", cpus="0", become=False, vars={}, cpu_limit=None
        )
        self.vars = host_vars({"apps_run_root": str(root), "apps_agent": str(AGENT)})
        self.env = {**os.environ, "WEBBENCH_RUN_ROOT": str(root), "WEBBENCH_MARKER": marker}
        root.mkdir(parents=True, exist_ok=True)

    def sh(self, command: str, **_kwargs):
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=self.env)

    def agent(self, *args: str, payload=None, timeout: float = 120) -> dict:
        proc = subprocess.run(
            [sys.executable, str(AGENT), *args],
            input=json.dumps(payload) if payload is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
        )
        return read_answer(self.host.name, proc, "the lab agent")


class FakeToolRunner(Runner):
    load_grace = 0.3
    kill_after = 0.5
    quiet_threshold = 101.0  # always quiet: this machine's own load is not under test
    idle_threshold = 101.0
    idle_window = 0.25
    quiet_window = 0.25
    quiet_timeout = 2.0

    def __init__(self, lab, suite, results, mode: str, counter: Path) -> None:
        super().__init__(lab, suite, results, progress=SimpleNamespace(hung=self._hung))
        self.told: list[tuple[str, int, int]] = []
        self.mode, self.counter = mode, counter

    def _hung(self, case: Case, attempt: int, attempts: int, reason: str) -> None:
        self.told.append((case.key, attempt, attempts))

    def _run_everywhere(self, specs: list[dict], timeout: float) -> list[dict]:
        answers = []
        for hc, spec in zip(self.generators, specs, strict=True):
            for proc in spec["processes"]:
                proc["argv"] = [
                    sys.executable,
                    "-c",
                    FAKE_TOOL,
                    self.mode,
                    str(self.counter),
                    str(SIEGE_OUTPUT),
                ]
            answers.append(hc.agent("run", payload=spec, timeout=timeout))
        return answers


def measure(tmp_path: Path, mode: str, attempts: int = 3) -> tuple[dict, Path, float, list]:
    marker = f"WEBBENCH_UNITTEST_{uuid.uuid4().hex[:8]}"
    gen = LocalControl("gen", tmp_path / "gen", marker)
    srv = LocalControl("srv", tmp_path / "srv", marker)
    lab = SimpleNamespace(generator=gen, server=srv, inventory=SimpleNamespace(group=lambda g: [gen.host]))
    suite = dataclasses.replace(
        load_suite("web_bench_2011"), duration=1, warmup=0, concurrency=10, load_attempts=attempts
    )
    results = ResultsDir(tmp_path / "results", suite.name)
    runner = FakeToolRunner(lab, suite, results, mode, tmp_path / "count")
    case = Case("go-http", 1, "hello", "/Hello/100", 1)
    started = time.monotonic()
    runner._measure(get_system("go-http"), case)
    took = time.monotonic() - started
    case_dir = results.path / "cases" / case.key
    record = json.loads((case_dir / "case.json").read_text())
    # The one writer wrote what the runner recorded, and it reads back as the same typed record.
    assert CaseRecord.from_json(record) == results.records[case.key]
    assert record["schema"] == 1 and runner.failed == (record["status"] == "failed")
    return record, case_dir, took, runner.told


def test_a_tool_that_hangs_once_is_killed_and_the_case_measured_again(tmp_path):
    record, case_dir, _, told = measure(tmp_path, "hang-once")
    assert told == [("go-http-L1-hello-r1", 1, 3)]  # the user sees it as it happens
    assert record["status"] == "ok" and record["rate"] > 0
    assert record["attempt"] == 2 and record["retried"] is True
    first, second = record["attempts"]
    assert first["outcome"] == "hung" and first["load"] == {"gen-siege-0": "killed"}
    assert "killed" in first["reason"] and first["quiet_before"] is None
    assert second["outcome"] == "completed" and second["quiet_before"]["quiet"] is True
    # Every attempt's raw output is kept, named by its attempt; the hung one is empty.
    assert (case_dir / "gen-siege-0.attempt-1.out").read_text() == ""
    assert '"transactions"' in (case_dir / "gen-siege-0.attempt-2.out").read_text()
    assert record["raw_outputs"] == ["gen-siege-0.attempt-2.out"]
    assert (case_dir / "samples-srv.attempt-1.jsonl").exists()
    assert (case_dir / "samples-srv.attempt-2.jsonl").exists()
    assert record["load_interrupted"] is False


def test_a_tool_that_hangs_every_time_fails_the_case_in_bounded_time(tmp_path):
    record, case_dir, took, told = measure(tmp_path, "hang", attempts=3)
    assert [t[1] for t in told] == [1, 2, 3]
    assert record["status"] == "failed" and record["attempt"] is None
    assert record["reason"].startswith("siege hung on every attempt (3): gen-siege-0 (killed)")
    assert [a["outcome"] for a in record["attempts"]] == ["hung"] * 3
    assert sorted(p.name for p in case_dir.glob("*.out")) == [
        f"gen-siege-0.attempt-{n}.out" for n in (1, 2, 3)
    ]
    # Each attempt: 1 s + 0.3 s to SIGINT + 0.5 s to SIGKILL, plus the agent's calls.
    assert took < 30


def test_a_tool_that_prints_its_summary_on_sigint_is_not_retried(tmp_path):
    record, _, _, told = measure(tmp_path, "summary-on-sigint")
    assert told == []
    assert record["status"] == "ok" and record["load_interrupted"] is True
    assert record["attempt"] == 1 and record["retried"] is False
    assert [a["outcome"] for a in record["attempts"]] == ["interrupted"]
    assert (tmp_path / "count").read_text() == "1"


def test_a_tool_that_prints_nothing_once_is_measured_again(tmp_path):
    record, case_dir, _, told = measure(tmp_path, "silent-once")
    assert told == [("go-http-L1-hello-r1", 1, 3)]
    assert record["status"] == "ok" and record["rate"] > 0
    assert record["attempt"] == 2 and record["retried"] is True
    first, second = record["attempts"]
    assert first["outcome"] == "completed" and first["reason"] == "gen: siege printed nothing"
    assert (case_dir / "gen-siege-0.attempt-1.out").read_text() == ""
    assert second["outcome"] == "completed" and record["raw_outputs"] == ["gen-siege-0.attempt-2.out"]


def test_one_attempt_is_enough_for_a_tool_that_finishes(tmp_path):
    record, _, _, _ = measure(tmp_path, "ok")
    assert record["status"] == "ok" and record["retried"] is False
    assert [a["outcome"] for a in record["attempts"]] == ["completed"]


@pytest.mark.parametrize("retried", [True, False])
def test_tables_mark_a_retried_case(retried):
    suite = load_suite("web_bench_2011")
    row = CaseRecord(
        "go-http-L1-hello-r1", "go-http", 1, "hello", "/Hello/100", 1, status="ok", retried=retried,
        figures=Figures(1000.0, 5000, 0, 100.0, None, None, None, 2.0, 100),
        resources=Resources(50.0, 40.0, 10.0, 9.0, 60.0, False, {"server": 5}),
    )  # fmt: skip
    (_, _, body), *_ = report.tables(suite, [row])
    assert body[0][1] == ("1,000 ±? †" if retried else "1,000 ±?")
    assert "† retried" in report.markdown(suite, [row], {"complete": True})
