"""The agent's `run`: a load tool that overstays its time gets SIGINT (and prints its summary),
one that ignores SIGINT has its whole process group killed a few seconds later; both are reported.
And `quiet`, which waits for an idle host."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "webbench_lab" / "agent" / "appctl.py"

# Prints a summary on SIGINT, like siege; otherwise it would wait far past its time.
OVERSTAYS = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, lambda *a: (print('{\"summary\": 1}', flush=True), sys.exit(0)))\n"
    "time.sleep(60)\n"
)
IGNORES = "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)\n"


def run_agent(tmp_path: Path, spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(AGENT), "run"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=30,
        env={"WEBBENCH_RUN_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_overstaying_tool_gets_sigint_and_its_summary_is_kept(tmp_path):
    out = tmp_path / "a.out"
    spec = {"name": "load", "interrupt_after": 0.5, "timeout": 10,
            "processes": [{"argv": [sys.executable, "-c", OVERSTAYS], "out": str(out)}]}  # fmt: skip
    answer = run_agent(tmp_path, spec)
    assert answer["interrupted"] == [True] and answer["exit_codes"] == [0]
    assert answer["seconds"] < 5
    assert out.read_text().strip() == '{"summary": 1}'


def test_a_tool_that_ignores_sigint_is_killed_kill_after_seconds_later(tmp_path):
    spec = {"name": "load", "interrupt_after": 0.3, "kill_after": 0.7, "timeout": 20,
            "processes": [{"argv": [sys.executable, "-c", IGNORES], "out": str(tmp_path / "b.out")},
                          {"argv": ["true"], "out": str(tmp_path / "c.out")}]}  # fmt: skip
    answer = run_agent(tmp_path, spec)
    assert answer["interrupted"] == [True, False] and answer["killed"] == [True, False]
    assert answer["ended"] == ["killed", "exited"]
    assert answer["exit_codes"][0] == -9 and answer["exit_codes"][1] == 0
    assert 0.9 < answer["seconds"] < 5


# Forks a child that ignores SIGINT too, then hangs: like siege's threads, all must go.
FORKS_AND_HANGS = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    time.sleep(60)\n"
    "    os._exit(0)\n"
    "open(sys.argv[1], 'w').write(str(pid))\n"
    "time.sleep(60)\n"
)


def test_the_hung_tools_whole_process_group_is_killed(tmp_path):
    pid_file = tmp_path / "child.pid"
    spec = {"name": "load", "interrupt_after": 0.5, "kill_after": 0.5, "timeout": 20,
            "processes": [{"argv": [sys.executable, "-c", FORKS_AND_HANGS, str(pid_file)],
                           "out": str(tmp_path / "d.out")}]}  # fmt: skip
    answer = run_agent(tmp_path, spec)
    assert answer["ended"] == ["killed"]
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def test_a_tool_that_never_gets_sigint_is_killed_at_the_timeout(tmp_path):
    hangs = {"argv": [sys.executable, "-c", IGNORES], "out": str(tmp_path / "e.out")}
    spec = {"name": "load", "timeout": 1.0, "kill_after": 30, "processes": [hangs]}
    answer = run_agent(tmp_path, spec)
    assert answer["ended"] == ["killed"] and answer["interrupted"] == [False]
    assert 0.9 < answer["seconds"] < 5


def test_quiet_reports_an_idle_host_or_gives_up_at_its_timeout(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(AGENT), "quiet", "101", "0.5", "5"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    idle = json.loads(proc.stdout)
    # Nothing is above 101%: quiet after one window, long before the 5 s timeout (the bounds leave
    # room for a loaded machine: `make test` runs the unit tests beside a lab being built).
    assert idle["quiet"] is True and 0.5 <= idle["waited_s"] < 4
    busy = subprocess.run(
        [sys.executable, str(AGENT), "quiet", "-1", "0.5", "1"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    answer = json.loads(busy.stdout)
    # Every CPU is above -1%: it gives up at its 1 s timeout, not before, and not long after.
    assert answer["quiet"] is False and 1 <= answer["waited_s"] < 4


def test_quiet_sees_a_busy_process_of_this_host(tmp_path):
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        argv = [sys.executable, str(AGENT), "quiet", "101", "1", "1"]
        answer = json.loads(subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout)
    finally:
        spin.kill()
        spin.wait()
    cpus = len(os.sched_getaffinity(0))
    # One spinning process: about one CPU of those this host may use, seen among its processes.
    assert answer["cpu_pct"] > 70 / cpus and answer["machine_cpu_pct"] > 70 / cpus, answer


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_status_says_what_level_a_running_system_was_started_at(tmp_path):
    """`app list` shows the level from here: the meta given to start, while the system runs."""
    env = {"WEBBENCH_RUN_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin",
           "WEBBENCH_MARKER": f"WEBBENCH_UNITTEST_{tmp_path.name}"}  # fmt: skip

    def agent(*args: str, payload: dict | None = None) -> dict:
        proc = subprocess.run(
            [sys.executable, str(AGENT), *args], input=json.dumps(payload) if payload else "",
            capture_output=True, text=True, timeout=30, env=env,
        )  # fmt: skip
        return json.loads(proc.stdout.strip().splitlines()[-1])

    spec = {"name": "sys", "ports": [], "wait": 5, "meta": {"level": 2},
            "processes": [{"argv": [sys.executable, "-c", "import time; time.sleep(30)"]}]}  # fmt: skip
    assert agent("start", payload=spec)["ok"]
    try:
        running = agent("status", "sys")["systems"]["sys"]
        assert running["running"] is True and running["meta"] == {"level": 2}
    finally:
        assert agent("stop", "sys")["ok"]
    stopped = agent("status", "sys")["systems"]["sys"]
    assert stopped == {"running": False, "pid": None, "processes": [], "meta": {}}


def test_the_sampler_counts_its_hosts_own_work_not_other_tenants_on_the_same_cpu(tmp_path):
    """A host in its own PID namespace (as a local lab's is) shares a CPU with a busy process it
    cannot see: the CPU's total says busy, the host's own figure says idle."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    cpu = sorted(os.sched_getaffinity(0))[0]
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    os.sched_setaffinity(spin.pid, {cpu})
    out = tmp_path / "samples.jsonl"
    spun_from, spun_at = _cpu_seconds(spin.pid), time.monotonic()
    try:
        host = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--kill-child", "--mount-proc"]
        argv = [*host, "taskset", "-c", str(cpu), sys.executable, str(AGENT), "sampler", "nothing", str(out)]
        sampler = subprocess.Popen(argv)
        deadline = time.monotonic() + 60  # three samples, however busy the machine is
        while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
            time.sleep(0.2)
        sampler.kill()  # unshare: --kill-child ends the sampler (PID 1 there ignores TERM)
        sampler.wait(timeout=10)
        # What the spinner got of its CPU meanwhile: all of it on an idle machine, less on a
        # loaded or slower one (the CPU's total follows it, not a bound tuned to this machine).
        spun = 100 * (_cpu_seconds(spin.pid) - spun_from) / (time.monotonic() - spun_at)
    finally:
        spin.kill()
        spin.wait()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 2
    assert spun > 30, f"the spinner got {spun:.0f}% of its CPU: too busy a machine to tell them apart"
    for row in rows:
        assert row["cpus"] == 1, row
        assert row["own_cpu_pct"] < 20, row  # the sampler alone: the spinner is not this host's
    # The CPU's total counts the spinner (on the same CPU), which the host cannot see.
    host_total = sum(row["host_cpu_pct"] for row in rows) / len(rows)
    assert host_total > 0.7 * spun and host_total > max(row["own_cpu_pct"] for row in rows) + 20, (spun, rows)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FakeClock:
    """time for the sampler: sleeping and slow work move it, nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


def _sample_slowly(monkeypatch, work: list[float]) -> tuple[FakeClock, list[int]]:
    """The agent's sampler on a fake clock, where the n-th sample's /proc reading takes work[n]."""
    from webbench_lab.agent import appctl

    clock, niced = FakeClock(), []
    costs = iter([0.0, *work])  # the first scan, before the first tick, sets the baseline

    def slow_scan() -> dict:
        clock.now += next(costs)
        return {}

    monkeypatch.setattr(appctl, "time", clock)
    monkeypatch.setattr(appctl, "_scan", slow_scan)
    monkeypatch.setattr(appctl.os, "nice", niced.append)  # not this test process's priority
    return clock, niced


def test_the_sampler_keeps_its_pace_however_long_each_sample_takes(tmp_path, monkeypatch):
    """A server busy at its CPU limit made each sample take up to 0.35 s: a sample is still due
    every second from the start, so 20 s give 20 samples (a loop that slept a second after each
    gave 17, and the case lost its flags)."""
    from webbench_lab.agent import appctl

    clock, niced = _sample_slowly(monkeypatch, [0.35] * 20)
    out = tmp_path / "samples.jsonl"
    appctl.sampler("sys", str(out), interval=1.0, count=20)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20
    assert clock.now - 1000.0 == pytest.approx(20.35)  # 20 ticks, then the last sample's work
    assert [b["t"] - a["t"] for a, b in itertools.pairwise(rows)] == pytest.approx([1.0] * 19)
    assert niced == [-10]  # its moment of CPU at once on a busy host


def test_a_sample_longer_than_the_interval_drops_the_ticks_it_missed(tmp_path, monkeypatch):
    """One stalled sample (2.5 s) costs the ticks it covered, not a burst of samples a moment
    apart after it."""
    from webbench_lab.agent import appctl

    _sample_slowly(monkeypatch, [0.1, 2.5, 0.1, 0.1, 0.1])
    out = tmp_path / "samples.jsonl"
    appctl.sampler("sys", str(out), interval=1.0, count=5)
    times = [json.loads(line)["t"] for line in out.read_text().splitlines()]
    # ticks 1 and 2 on time; tick 2's work ends at 4.5: tick 3 is dropped, tick 4 (late) reads at
    # once, then 5 and 6 on time. Dropping none would read ticks 3 and 4 a moment apart.
    assert [round(t - 1000.0, 2) for t in times] == [1.1, 4.5, 4.6, 5.1, 6.1]


def test_one_scan_finds_a_systems_processes_with_their_cpu_and_rss_and_reads_each_environment_once(
    monkeypatch,
):
    """The sampler reads /proc once a sample: a process's stat gives its CPU time, RSS and session,
    and its environment (which system it belongs to) is read the first time it is seen only."""
    from webbench_lab.agent import appctl

    # Half a second of CPU (not of wall time: a busy machine would give it less), then it says so.
    spin = "import time\nwhile time.process_time() < 0.5: pass\nprint(flush=True)\ntime.sleep(60)\n"
    env = {**os.environ, appctl.MARKER: "sys"}
    mine = subprocess.Popen([sys.executable, "-c", spin], env=env, stdout=subprocess.PIPE)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert mine.stdout is not None and mine.stdout.readline() == b"\n"
        reads: list[int] = []
        environ = appctl._environ
        monkeypatch.setattr(appctl, "_environ", lambda pid: (reads.append(pid), environ(pid))[1])
        reader = appctl._SystemReader("sys")
        first = reader.members(appctl._scan())
        assert list(first) == [mine.pid] and other.pid in reads
        proc = first[mine.pid]
        hz = os.sysconf("SC_CLK_TCK")
        assert 0.45 * hz <= proc.cpu <= 1.0 * hz  # its half second of spinning
        status = Path(f"/proc/{mine.pid}/status").read_text()
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        assert abs(proc.rss_kb - rss) <= 0.1 * rss  # what `status` says (its counters lag a little), in kB
        reads.clear()
        assert list(reader.members(appctl._scan())) == [mine.pid]
        assert mine.pid not in reads and other.pid not in reads  # known: no environment read again
        scan = appctl._scan()
        assert appctl._process_ticks(scan) >= sum(p.cpu for p in scan.values())
    finally:
        for p in (mine, other):
            p.kill()
            p.wait()


def test_calibrate_times_fixed_work_in_cpu_time_on_one_cpu():
    """`appctl calibrate`, as a host runs it: every figure a positive cost, a whole connection
    dearer than one exchange on an open connection, and the CPU time it took no more than its wall
    time (pinned to one CPU, both ends of the loopback exchange included)."""
    proc = subprocess.run(
        [sys.executable, str(AGENT), "calibrate"], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    figures = ("cpu_loop_ns", "memory_us_per_mib", "loopback_rtt_us", "loopback_connect_us")
    assert answer["ok"] and all(answer[k] > 0 for k in figures)
    assert answer["loopback_connect_us"] > answer["loopback_rtt_us"]
    assert 0 < answer["cpu_s"] <= answer["wall_s"] + 0.02
