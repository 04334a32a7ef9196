"""The local lab's keeper: a real SCHED_IDLE loop per CPU, found, measured and ended."""

from __future__ import annotations

import os
import time
import uuid

from webbench_lab.bench import report
from webbench_lab.bench.record import Resources
from webbench_lab.locallab import keeper


def test_only_the_servers_own_cpus_are_kept_awake():
    assert keeper.cpus_to_keep("1", ["0"]) == [1]
    assert keeper.cpus_to_keep("0", ["0"]) == []  # one CPU for all: the generator's idle time is not ours
    assert keeper.cpus_to_keep("2-3", ["0-1", "3"]) == [2]


def test_a_real_keeper_runs_at_idle_priority_on_its_cpu_uses_cpu_and_ends():
    mark = f"webbench-lab-keeper-test-{uuid.uuid4().hex[:8]}"  # never the running lab's keepers
    cpu = min(os.sched_getaffinity(0))
    try:
        (pid,) = keeper.start([cpu], mark)
        assert keeper.start([cpu], mark) == [pid]  # one per CPU: a second start adds none
        assert keeper.pids(mark) == {pid: cpu}
        deadline = time.monotonic() + 5
        while os.sched_getscheduler(pid) != os.SCHED_IDLE and time.monotonic() < deadline:
            time.sleep(0.02)  # it sets its own class as it starts
        assert os.sched_getscheduler(pid) == os.SCHED_IDLE
        assert os.sched_getaffinity(pid) == {cpu}
        # In a cpu cgroup of its own with the least weight, outside the kernel's autogroup.
        group = keeper.group(mark)
        if (keeper.CPU_ROOT / "cpu.shares").is_file() and os.geteuid() == 0:
            assert str(pid) in (group / "cgroup.procs").read_text().split()
            assert (group / "cpu.shares").read_text().strip() == str(keeper.LEAST_SHARES)
        # It uses CPU when the CPU has nothing else to run (on a busy machine, a tick may take a
        # while at the least weight: waited for, not assumed).
        first = keeper.cpu_seconds([pid])
        later = first
        deadline = time.monotonic() + 60
        while first is not None and later is not None and later <= first and time.monotonic() < deadline:
            time.sleep(0.2)
            later = keeper.cpu_seconds([pid])
        assert first is not None and later is not None and later > first
    finally:
        ended = keeper.stop(mark)
    assert ended == [pid] and keeper.pids(mark) == {}
    assert keeper.cpu_seconds([pid]) is None  # gone: unknown, not zero
    assert not keeper.group(mark).exists()  # its group goes with it


def test_the_keepers_share_is_the_labs_not_another_tenants():
    res = Resources.from_samples({})
    res.server_others_cpu_pct = 78.0
    res.exclude_keeper(74.6)
    assert (res.server_others_cpu_pct, res.server_keeper_cpu_pct) == (3.4, 74.6)
    res.exclude_keeper(None)  # unknown: nothing changes
    assert (res.server_others_cpu_pct, res.server_keeper_cpu_pct) == (3.4, 74.6)
    res.exclude_keeper(90.0)
    assert res.server_others_cpu_pct == 0.0


def test_the_report_says_whether_the_servers_cpus_were_kept_awake():
    kept = report.lab_lines({"server_cpu_limit": 0.25, "server_cpus_kept_awake": [1]})
    assert any(line.startswith("Server CPUs 1 kept awake by the local lab's keeper") for line in kept)
    none = report.lab_lines({"server_cpu_limit": 0.25, "server_cpus_kept_awake": []})
    assert "Server CPUs not kept awake: no keeper ran (`lab up` starts one)." in none
    old = report.lab_lines({"server_cpu_limit": 0.25})  # a run from before the keeper
    assert not any("kept awake" in line for line in old)
