"""`webbench-lab lab up | down | status`: the local two-host lab on this machine (as root)."""

from __future__ import annotations

import argparse

from webbench_lab.locallab.topology import DEFAULT_SERVER_CPU
from webbench_lab.ui import out


def register(sub) -> None:
    lab = sub.add_parser("lab", help="the local two-host lab on this machine (as root)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=type(lab))
    up = lab_sub.add_parser("up", help="start two fresh Debian 12 hosts and write inventory/local.yml")
    up.add_argument("--mgmt-net", default="198.18.0.0/24", help="management network (SSH)")
    up.add_argument("--bench-net", default="198.19.0.0/30", help="benchmark link network")
    up.add_argument(
        "--server-cpu",
        type=_cores,
        default=DEFAULT_SERVER_CPU,
        metavar="CORES",
        help="the server's CPU time in cores (cgroup CFS quota, 10 ms period; "
        f"default {DEFAULT_SERVER_CPU:g}; 0: no limit)",
    )
    up.set_defaults(handler=up_command)
    down = lab_sub.add_parser("down", help="stop the local lab and remove everything but the caches")
    down.set_defaults(handler=down_command)
    status = lab_sub.add_parser("status", help="which local hosts are up and reachable over SSH")
    status.set_defaults(handler=status_command)


def up_command(args: argparse.Namespace) -> int:
    from webbench_lab.locallab import lab

    lab.up(args.mgmt_net, args.bench_net, args.server_cpu)
    return 0


def _cores(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cores (0.5, 1; 0: no limit)") from None


def down_command(_args: argparse.Namespace) -> int:
    from webbench_lab.locallab import lab

    lab.down()
    return 0


def status_command(_args: argparse.Namespace) -> int:
    from webbench_lab.locallab import lab

    rows = lab.status()
    if not rows:
        out.print("local lab: down (run `webbench-lab lab up` as root)")
        return 1
    for row in rows:
        state = "up" if row.reachable else ("running, unreachable" if row.running else "down")
        out.print(f"{row.name:10} {state:22} {row.detail}", markup=False)
    return 0 if all(r.reachable for r in rows) else 1
