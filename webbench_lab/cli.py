"""The `webbench-lab` command: one entry point, bad input as one line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from webbench_lab.errors import LabFailure, UserError
from webbench_lab.paths import LOCAL_INVENTORY
from webbench_lab.ui import console, out


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        console.print(f"webbench-lab: {message} (see `webbench-lab --help`)", markup=False)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="webbench-lab",
        description="Rebuild, provision and benchmark the two-host Go-vs-Python web-server lab.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    lab = sub.add_parser("lab", help="the local two-host lab on this machine (as root)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=_Parser)
    up = lab_sub.add_parser("up", help="start two fresh Debian 12 hosts and write inventory/local.yml")
    up.add_argument("--mgmt-net", default="198.18.0.0/24", help="management network (SSH)")
    up.add_argument("--bench-net", default="198.19.0.0/30", help="benchmark link network")
    lab_sub.add_parser("down", help="stop the local lab and remove everything but the caches")
    lab_sub.add_parser("status", help="which local hosts are up and reachable over SSH")

    prov = sub.add_parser("provision", help="provision the generator and server hosts")
    prov.add_argument("-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)")
    prov.add_argument("--engine", default="pyinfra", help="provisioning engine: pyinfra or ansible")
    prov.add_argument("--json", action="store_true", help="print one JSON object with the results")
    prov.add_argument(
        "--check", action="store_true", help="change nothing: report what provisioning would change"
    )

    aud = sub.add_parser("audit", help="what every host is made of (audit.json, audit.md), or --check drift")
    aud.add_argument("-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)")
    aud.add_argument(
        "--check", action="store_true", help="list drift from the desired state; exit 1 on drift"
    )
    aud.add_argument("--out", type=Path, help="audits root (default: audits/); a new folder every audit")
    aud.add_argument("--json", action="store_true", help="print the audit (or the drift list) as JSON")

    app = sub.add_parser("app", help="build, start, stop and list the systems under test")
    app_sub = app.add_subparsers(dest="app_command", required=True, parser_class=_Parser)
    start = app_sub.add_parser("start", help="start a system; returns when every port answers")
    start.add_argument("system")
    start.add_argument("--level", default="1", help="1, 2, 4: GOMAXPROCS, processes or workers")
    stop = app_sub.add_parser("stop", help="stop a system (whole process group, TERM then KILL)")
    stop.add_argument("system", help="a system, or `services` for Redis and the upstream API")
    app_sub.add_parser("list", help="every system: built, running, level, ports")
    build = app_sub.add_parser("build", help="build the Go systems (all, or those named)")
    build.add_argument("systems", nargs="*")
    build.add_argument("--force", action="store_true", help="rebuild even if this release was built")
    for p in (start, stop, app_sub.choices["list"], build):
        p.add_argument("-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)")

    bench = sub.add_parser("bench", help="run a benchmark suite and keep everything in results/")
    bench.add_argument("--suite", default="web_bench_2011", help="suite name (suites/NAME.yml) or path")
    bench.add_argument("--only", action="append", default=[], help="only these systems (repeat or a,b)")
    bench.add_argument("--levels", help="levels to run, e.g. 1,2")
    bench.add_argument("--duration", type=int, help="seconds of measurement per case")
    bench.add_argument("--repeats", type=int, help="repeats per case")
    bench.add_argument("--load-tool", help="siege, wrk or k6 instead of the suite's tool")
    bench.add_argument("--quick", action="store_true", help="the suite's quick settings (CI)")
    bench.add_argument("--dry-run", action="store_true", help="print the plan and its duration")
    bench.add_argument("--results", help="results root (default: results/)")
    bench.add_argument("-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)")

    ver = sub.add_parser("verify", help="check every endpoint of the systems from the generator")
    ver.add_argument("systems", nargs="*", help="systems to verify (default: all)")
    ver.add_argument("--level", default="1", help="level to start a system that is not running")
    ver.add_argument("-i", "--inventory", type=Path, help="Ansible YAML inventory (default: the local lab)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "provision" and args.engine == "pyinfra":
        # pyinfra runs on gevent, as its own CLI does (ansible-runner must not: its pty reads
        # stall under it): patch before paramiko or ssl are imported.
        # The lab addresses are IPs: gevent's blocking resolver avoids its thread pool, which
        # prints tracebacks for lookups that paramiko expects to fail and handles.
        os.environ.setdefault("GEVENT_RESOLVER", "block")
        from gevent import monkey

        monkey.patch_all()
    try:
        return _dispatch(args)
    except UserError as exc:
        console.print(f"webbench-lab: {exc}", markup=False)
        return exc.exit_code
    except LabFailure as exc:
        console.print(f"webbench-lab: failed: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("webbench-lab: interrupted", markup=False)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "lab":
        return _lab(args)
    if args.command == "provision":
        return _provision(args)
    if args.command == "audit":
        from webbench_lab.auditcli import audit_command

        return audit_command(args, resolve_inventory(args.inventory))
    if args.command == "app":
        from webbench_lab.appcli import app_command

        return app_command(args, resolve_inventory(args.inventory))
    if args.command == "bench":
        from webbench_lab.benchcli import bench_command

        inventory = None if args.dry_run else resolve_inventory(args.inventory)
        return bench_command(args, inventory)
    if args.command == "verify":
        from webbench_lab.appcli import verify_command

        return verify_command(args, resolve_inventory(args.inventory))
    raise AssertionError(args.command)


def _lab(args: argparse.Namespace) -> int:
    from webbench_lab.locallab import lab

    if args.lab_command == "up":
        lab.up(args.mgmt_net, args.bench_net)
        return 0
    if args.lab_command == "down":
        lab.down()
        return 0
    rows = lab.status()
    if not rows:
        out.print("local lab: down (run `sudo webbench-lab lab up`)")
        return 1
    for row in rows:
        state = "up" if row.reachable else ("running, unreachable" if row.running else "down")
        out.print(f"{row.name:10} {state:22} {row.detail}", markup=False)
    return 0 if all(r.reachable for r in rows) else 1


def resolve_inventory(path: Path | None) -> Path:
    if path is not None:
        return path
    if LOCAL_INVENTORY.is_file():
        return LOCAL_INVENTORY
    raise UserError(
        f"no inventory given and no local lab ({LOCAL_INVENTORY} is missing); run "
        "`sudo webbench-lab lab up` first, or pass -i with your inventory"
    )


def _provision(args: argparse.Namespace) -> int:
    from webbench_lab.inventory import load_inventory
    from webbench_lab.provision import ENGINES
    from webbench_lab.provision.result import print_check

    if args.engine not in ENGINES:
        raise UserError(f"--engine {args.engine}: unknown engine; choose one of {', '.join(ENGINES)}")
    inventory = load_inventory(resolve_inventory(args.inventory))
    result = ENGINES[args.engine](inventory, args.check)
    if args.json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    elif args.check:
        print_check(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
