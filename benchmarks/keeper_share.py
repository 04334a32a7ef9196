"""How much of its CPU the lab's keeper takes from a normal process (as root, on an idle machine
with no lab up): a busy loop pinned to one CPU runs for `--cpu-seconds` of CPU time, alone, beside
a keeper in its cgroup of the least weight (locallab/keeper.py), and beside a keeper left in the
root cgroup (SCHED_IDLE only, as before: under the kernel's autogroup). Its wall time over its CPU
time is the slowdown; 1.00 is none.

    .venv/bin/python benchmarks/keeper_share.py [--cpu-seconds 2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from webbench_lab.locallab import keeper

LOOP = (
    "import os, sys, time\n"
    "os.sched_setaffinity(0, {int(sys.argv[1])})\n"
    "budget = float(sys.argv[2])\n"
    "cpu, wall = time.process_time(), time.monotonic()\n"
    "while time.process_time() - cpu < budget:\n"
    "    pass\n"
    "print(time.monotonic() - wall)\n"
)


def slowdown(cpu: int, seconds: float) -> float:
    """A normal process of this session: wall time per CPU second on `cpu`."""
    out = subprocess.run([sys.executable, "-c", LOOP, str(cpu), str(seconds)], capture_output=True, text=True)
    return float(out.stdout) / seconds


def measure(cpu: int, seconds: float, setting: str) -> float:
    if setting == "no keeper":
        return slowdown(cpu, seconds)
    mark = f"webbench-lab-keeper-bench-{uuid.uuid4().hex[:8]}"
    try:
        (pid,) = keeper.start([cpu], mark)
        if setting == "keeper, root cgroup":
            (keeper.CPU_ROOT / "cgroup.procs").write_text(str(pid))
        time.sleep(0.2)
        return slowdown(cpu, seconds)
    finally:
        keeper.stop(mark)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpu-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0 or not (keeper.CPU_ROOT / "cpu.shares").is_file():
        print("keeper_share: run as root on a machine with the cgroup v1 cpu controller", file=sys.stderr)
        return 2
    cpu = max(os.sched_getaffinity(0))
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    print(f"CPU {cpu}, autogroup {autogroup}, {args.cpu_seconds:g} CPU s per loop, {args.rounds} rounds")
    settings = ("no keeper", "keeper, own cgroup (least weight)", "keeper, root cgroup")
    results: dict[str, list[float]] = {s: [] for s in settings}
    for _ in range(args.rounds):  # interleaved: the machine's drift falls on every setting alike
        for setting in settings:
            results[setting].append(measure(cpu, args.cpu_seconds, setting))
    for setting, values in results.items():
        each = ", ".join(f"{v:.2f}" for v in values)
        print(f"{setting:36s} wall/CPU {statistics.median(values):.2f}  ({each})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
