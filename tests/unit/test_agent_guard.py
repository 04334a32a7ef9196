"""The agent's `guard`: a run's hold on a host. Real agent processes, real signals, a marker of
the test's own (WEBBENCH_MARKER) so that a lab's processes on this machine are never touched."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "webbench_lab" / "agent" / "appctl.py"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {
        "WEBBENCH_RUN_ROOT": str(tmp_path / "run"),
        "WEBBENCH_MARKER": f"WBLTEST_{uuid.uuid4().hex[:8]}",
        "PATH": "/usr/bin:/bin",
    }


def agent(env: dict[str, str], *args: str, payload: dict | None = None, run_id: str = "") -> dict:
    extra = {"WEBBENCH_RUN_ID": run_id} if run_id else {}
    proc = subprocess.run(
        [sys.executable, str(AGENT), *args],
        input=json.dumps(payload) if payload is not None else "",
        capture_output=True, text=True, timeout=60, env={**env, **extra},
    )  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Guard:
    """A guard as the driver holds it: its standard input is the driver's channel."""

    def __init__(self, env: dict[str, str], run_id: str, ttl: float = 30.0) -> None:
        info = {"started": "2026-11-25T18:00:00Z", "control_host": "ctl", "driver_pid": 42, "results": "/r"}
        self.proc = subprocess.Popen(
            [sys.executable, str(AGENT), "guard", run_id, json.dumps(info), str(ttl)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.first = json.loads(self.proc.stdout.readline())

    def last(self, timeout: float = 30) -> dict:
        """Its last answer, when it has ended (its standard input may be open or closed)."""
        assert self.proc.stdout is not None
        self.proc.wait(timeout=timeout)
        return json.loads(self.proc.stdout.read().strip().splitlines()[-1])


def start(env: dict[str, str], name: str, run_id: str = "") -> int:
    spec = {"name": name, "ports": [], "wait": 5, "processes": [{"argv": SLEEPER}]}
    answer = agent(env, "start", payload=spec, run_id=run_id)
    assert answer["ok"], answer
    return answer["pid"]


def names(env: dict[str, str]) -> list[tuple[str, str]]:
    return [(p["name"], p["run"]) for p in agent(env, "processes")["processes"]]


def test_one_run_at_a_time_and_a_second_is_told_who_holds_the_host(env):
    first = Guard(env, "run-a")
    try:
        assert first.first == {"ok": True, "dead_run": None, "ended": []}
        second = Guard(env, "run-b")
        assert second.first["ok"] is False and second.proc.wait(timeout=10) == 1
        held = second.first["held_by"]
        assert held["run_id"] == "run-a" and held["control_host"] == "ctl"
        assert held["started"] == "2026-11-25T18:00:00Z"
        assert agent(env, "processes")["lease"]["run_id"] == "run-a"
    finally:
        first.proc.stdin.write("end\n")
        first.proc.stdin.flush()
    assert first.last() == {"ok": True, "ended": [], "reason": None}
    assert agent(env, "processes")["lease"] is None


def test_every_process_of_the_run_carries_its_id_and_ends_when_the_drivers_channel_closes(env):
    guard = Guard(env, "run-a")
    start(env, "go-http", run_id="run-a")
    start(env, "sampler-go-http", run_id="run-a")
    start(env, "by-hand")  # started outside any run: not the run's
    assert sorted(names(env)) == [("by-hand", ""), ("go-http", "run-a"), ("sampler-go-http", "run-a")]
    t0 = time.monotonic()
    guard.proc.stdin.close()  # what a kill -9 of the driver does to its SSH channel
    last = guard.last()
    assert time.monotonic() - t0 < 10
    assert last["reason"] == "the driver's connection closed"
    assert sorted(p["name"] for p in last["ended"]) == ["go-http", "sampler-go-http"]
    assert names(env) == [("by-hand", "")]
    assert agent(env, "status", "go-http")["systems"]["go-http"]["running"] is False
    # The next run is told how the last one ended, once.
    nxt = Guard(env, "run-b")
    dead = nxt.first["dead_run"]
    assert dead["run"]["run_id"] == "run-a" and dead["reason"] == "the driver's connection closed"
    assert [p["name"] for p in dead["ended"]] == ["go-http", "sampler-go-http"] and dead["ended_later"] == []
    nxt.proc.stdin.write("end\n")
    nxt.proc.stdin.flush()
    assert nxt.last()["reason"] is None
    again = Guard(env, "run-c")
    assert again.first["dead_run"] is None
    again.proc.stdin.close()
    again.last()
    agent(env, "stop", "by-hand")


def test_a_driver_that_stops_renewing_loses_its_processes_after_the_ttl(env):
    guard = Guard(env, "run-a", ttl=1.5)
    t0 = time.monotonic()  # the guard's lease runs from its first answer, before the start below
    start(env, "load", run_id="run-a")
    last = guard.last()  # nothing written to its standard input, which stays open
    assert 1.4 < time.monotonic() - t0 < 10
    assert last["reason"] == "the driver did not renew its lease for 1.5 s"
    assert names(env) == []


def test_renewals_keep_the_run_and_a_clean_end_ends_what_the_run_left(env):
    guard = Guard(env, "run-a", ttl=1.0)
    start(env, "redis", run_id="run-a")
    for _ in range(6):  # 3 s of renewals, every 0.5 s, past the 1 s ttl
        guard.proc.stdin.write("renew\n")
        guard.proc.stdin.flush()
        time.sleep(0.5)
    assert names(env) == [("redis", "run-a")]
    guard.proc.stdin.write("end\n")
    guard.proc.stdin.flush()
    last = guard.last()
    assert last["reason"] is None and [p["name"] for p in last["ended"]] == ["redis"]
    assert not (Path(env["WEBBENCH_RUN_ROOT"]) / "dead-run.json").exists()


def test_leftovers_of_a_run_whose_guard_died_are_ended_by_the_next_run(env):
    guard = Guard(env, "run-a")
    start(env, "go-http", run_id="run-a")
    guard.proc.kill()  # the guard dies with its host's crash: no end, a lease left behind
    guard.proc.wait()
    assert names(env) == [("go-http", "run-a")]
    nxt = Guard(env, "run-b")
    dead = nxt.first["dead_run"]
    assert dead["run"]["run_id"] == "run-a" and "its guard died" in dead["reason"]
    assert [p["name"] for p in dead["ended_later"]] == ["go-http"] == [p["name"] for p in nxt.first["ended"]]
    assert names(env) == []
    nxt.proc.stdin.close()
    nxt.last()


def test_a_process_that_loses_its_marker_is_still_the_runs_and_ends_with_it(env):
    """nginx writes its process title over its environment: `env -i` is the same loss, from exec."""
    guard = Guard(env, "run-a")
    spec = {"name": "ceiling", "ports": [], "wait": 5, "processes": [{"argv": ["env", "-i", *SLEEPER]}]}
    assert agent(env, "start", payload=spec, run_id="run-a")["ok"]
    (pid,) = agent(env, "status", "ceiling")["systems"]["ceiling"]["processes"]
    assert b"WBLTEST" not in Path(f"/proc/{pid}/environ").read_bytes()
    assert names(env) == [("ceiling", "run-a")]
    guard.proc.stdin.close()
    last = guard.last()
    assert [p["name"] for p in last["ended"]] == ["ceiling"]
    assert names(env) == []
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def test_a_pid_file_left_by_a_crash_never_names_another_process(env):
    """After a reboot the pid can be anyone's session: its start time and the boot id say it is not ours."""
    other = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        run_dir = Path(env["WEBBENCH_RUN_ROOT"]) / "go-http"
        run_dir.mkdir(parents=True)
        (run_dir / "supervisor.pid").write_text(f"{other.pid}\n")
        (run_dir / "run-id").write_text("run-old")
        for recorded in ("another-boot 12345", ""):
            (run_dir / "supervisor.id").write_text(recorded)
            assert names(env) == []
            assert agent(env, "status", "go-http")["systems"]["go-http"]["processes"] == []
    finally:
        other.kill()
        other.wait()


def test_a_build_started_for_the_run_ends_with_it(env, tmp_path):
    """The command the driver runs for `go build` (apps/builds.py) carries the run's markers: a
    driver that dies mid-build leaves no compiler running on the host."""
    from webbench_lab.apps import builds

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_go = bin_dir / "go"
    fake_go.write_text("#!/bin/sh\nexec sleep 120\n")
    fake_go.chmod(0o755)
    guard = Guard(env, "run-a")
    marks = builds.run_marks("gin", "run-a", env["WEBBENCH_MARKER"])
    command = builds.build_command(str(tmp_path), str(tmp_path / "gin.new"), str(tmp_path / "cache"), marks)
    build = subprocess.Popen(["sh", "-c", command], env={**env, "PATH": f"{bin_dir}:{env['PATH']}"})
    deadline = time.monotonic() + 10
    while ("build-gin", "run-a") not in names(env) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert names(env) == [("build-gin", "run-a")]
    guard.proc.stdin.close()  # the driver died
    assert [p["name"] for p in guard.last()["ended"]] == ["build-gin"]
    assert build.wait(timeout=10) != 0 and names(env) == []
    assert builds.run_marks("gin", "") == ""  # `app build` by hand: no run to end it with
