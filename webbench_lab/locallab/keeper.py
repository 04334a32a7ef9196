"""Keeps a CPU-limited local server's CPUs awake: one SCHED_IDLE busy loop per CPU.

On a virtual machine, a CPU with nothing to run halts its vCPU, and the hypervisor may run other
work on the physical core until an interrupt wakes it. A server held to 0.25 core by a CFS quota
leaves its CPU idle three quarters of every 10 ms period, so it halted and woke hundreds of times
a second: each wake-up cost latency and cold caches, and how much depended on what the machine's
other guests did. Measured on this machine (Go http, Web.py+CherryPy, Web.py+gunicorn at level
1, 6 repeats each, alternating without and with a keeper): the Python servers used only 16-21% of
their 25% quota without it, 25% with it, and the spread of the rates went from 5.8-12.4% to
2.0-5.2% (relative standard deviation).

The keeper runs on the control machine, outside the lab's hosts, at SCHED_IDLE and in a cpu cgroup
of its own with the least weight (cpu.shares 2): the scheduler runs it only when nothing else on
that CPU can run, and preempts it at once when anything else wakes. SCHED_IDLE alone is not enough
where the kernel's autogroup is on: a keeper in a session of its own then took half of its CPU from
the normal processes of every other session (../shared/PITFALLS.md), the control machine's builds,
Ansible and pyinfra among them. A process in a cgroup is outside autogroup.

Its CPU time is not the server's: the samplers inside the hosts count only their own processes, and
the runner subtracts the keeper from the "other tenants" figure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from webbench_lab.agent.appctl import cpu_list, proc_stat
from webbench_lab.locallab import cpusets

MARK = "webbench-lab-keeper"
CPU_ROOT = Path("/sys/fs/cgroup/cpu")
LEAST_SHARES = 2  # cgroup v1's smallest cpu.shares: 2/1026 of a CPU that a default group wants
# The loop, run by the control machine's Python: pinned to its CPU, the idle scheduling class.
PROGRAM = (
    "import os, sys\n"
    "os.sched_setaffinity(0, {int(sys.argv[2])})\n"
    "os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\n"
    "while True:\n"
    "    pass\n"
)


def cpus_to_keep(server_cpus: str, other_cpus: list[str]) -> list[int]:
    """The server's CPUs that no other host of the lab uses: a keeper on a shared CPU would fill
    another host's idle time, where it has no business."""
    shared = set().union(*(cpu_list(cpus) for cpus in other_cpus))
    return sorted(cpu_list(server_cpus) - shared)


def start(cpus: list[int], mark: str = MARK) -> list[int]:
    """A keeper on each of `cpus` that has none; the pids of all of them."""
    running = pids(mark)
    for cpu in cpus:
        if cpu in running.values():
            continue
        proc = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, mark, str(cpu)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the lab's, not the command's that started it
            close_fds=True,
        )
        running[proc.pid] = cpu
        _least_weight(proc.pid, mark)
        _await_exec(proc.pid, mark)
    return sorted(running)


def group(mark: str = MARK) -> Path:
    """The keepers' cpu cgroup (one per mark: a test's keepers are not the lab's)."""
    return CPU_ROOT / mark


def _least_weight(pid: int, mark: str) -> None:
    """The keeper into its cpu cgroup of the least weight, where this machine has the cgroup v1
    cpu controller and lets us write it (as root); as it was otherwise (SCHED_IDLE only)."""
    if not (CPU_ROOT / "cpu.shares").is_file():
        return
    with contextlib.suppress(OSError):
        group(mark).mkdir(exist_ok=True)
        (group(mark) / "cpu.shares").write_text(str(LEAST_SHARES))
        (group(mark) / "cgroup.procs").write_text(str(pid))


def _await_exec(pid: int, mark: str) -> None:
    """Wait until the new keeper shows its own command line: until it has exec'd, /proc still
    shows the forked parent's, and a `pids` or second `start` in that window would miss it (and
    start a second keeper on the same CPU)."""
    deadline = time.monotonic() + 5
    while _cpu_of(pid, mark) is None and time.monotonic() < deadline:
        time.sleep(0.005)


def pids(mark: str = MARK) -> dict[int, int]:
    """Every keeper on this machine, pid -> its CPU, found by its command line (no pid file to
    go stale: a keeper left by a lab that died is found the same way)."""
    found = {}
    for entry in Path("/proc").iterdir():
        cpu = _cpu_of(int(entry.name), mark) if entry.name.isdigit() else None
        if cpu is not None:
            found[int(entry.name)] = cpu
    return found


def _cpu_of(pid: int, mark: str) -> int | None:
    """The CPU of the keeper `pid` (None: not a keeper of `mark`, or gone)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if len(argv) >= 5 and argv[3] == mark.encode() and argv[4].isdigit():
        return int(argv[4])
    return None


def stop(mark: str = MARK) -> list[int]:
    """End every keeper; the pids that were ended."""
    found = list(pids(mark))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(found) & set(pids(mark)):
        time.sleep(0.05)
    _remove_group(mark, time.monotonic() + 5)
    return found


def _remove_group(mark: str, deadline: float) -> None:
    """rmdir the keepers' group once the kernel has let go of the ended ones."""
    if not group(mark).is_dir():
        return
    with contextlib.suppress(OSError):  # still busy: the next `lab down` finds it
        cpusets.rmdir_once_free(group(mark), deadline)


def cpu_seconds(keepers: list[int]) -> float | None:
    """The CPU time these keepers have used so far (None when any is gone: a share that cannot
    be computed is unknown)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in keepers:
        try:
            fields = proc_stat(pid)
        except OSError:
            return None
        if fields[0] in ("Z", "X"):  # ended, not yet reaped
            return None
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total
