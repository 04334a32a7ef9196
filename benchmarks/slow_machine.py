"""Run a command as on a slower machine (issue 29, point 4: the suite must pass when every step
takes twice as long): the command and everything it starts get `--cpus` of this machine's CPU time
(default: half of them) through a cgroup v1 CFS quota, as root.

    .venv/bin/python benchmarks/slow_machine.py [--cpus 1] -- make test

What it slows: the control machine (pytest, the CLI, Ansible, pyinfra, builds), the lab's hosts
without a CPU limit of their own (the generators, the backend) and the unit tests. The local server
leaves the group for its own (`lab up` puts it in webbench-lab/server with its quarter core), so it
keeps the speed that the figures are measured at. Downloads are not slowed. On this 2-CPU machine
`--cpus 1` halves the CPU that everything but the server gets.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
GROUP = CPU_ROOT / "webbench-slow-machine"
PERIOD_US = 100_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    half = len(os.sched_getaffinity(0)) / 2
    parser.add_argument("--cpus", type=float, default=half, help="CPU time the command gets, in CPUs")
    parser.add_argument("command", nargs="+", help="the command, after --")
    args = parser.parse_args(argv)
    if not (CPU_ROOT / "cpu.cfs_quota_us").is_file():
        print(f"slow_machine: no cgroup v1 cpu controller at {CPU_ROOT}", file=sys.stderr)
        return 2
    if args.cpus <= 0.01:
        print(f"slow_machine: --cpus {args.cpus:g}: give more than 0.01 CPUs", file=sys.stderr)
        return 2
    GROUP.mkdir(exist_ok=True)
    (GROUP / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (GROUP / "cpu.cfs_quota_us").write_text(str(round(args.cpus * PERIOD_US)))
    print(f"slow_machine: {' '.join(args.command)} with {args.cpus:g} CPUs of CPU time", flush=True)
    started = time.monotonic()
    try:
        # The child joins the group before it runs the command: all it starts inherits the group.
        join = f'echo $$ > {GROUP / "cgroup.procs"} && exec "$@"'
        rc = subprocess.call(["sh", "-c", join, "sh", *args.command])
    finally:
        try:
            GROUP.rmdir()
        except OSError as exc:  # a process of the command still runs in it
            print(f"slow_machine: {GROUP} left in place: {exc}", file=sys.stderr)
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    print(f"slow_machine: exit {rc} after {minutes} min {seconds:02d} s", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
