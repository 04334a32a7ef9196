"""`webbench-lab provision [--engine pyinfra|ansible] [--check]`: both hosts to the desired state."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from webbench_lab.cli.options import INVENTORY, json_option, resolve_inventory
from webbench_lab.errors import UserError


def register(sub) -> None:
    prov = sub.add_parser(
        "provision",
        help="provision the generator and server hosts",
        parents=[INVENTORY, json_option("print one JSON object with the results")],
    )
    prov.add_argument("--engine", default="pyinfra", help="provisioning engine: pyinfra or ansible")
    prov.add_argument(
        "--check", action="store_true", help="change nothing: report what provisioning would change"
    )
    prov.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.engine == "pyinfra":
        _patch_for_pyinfra()
    from webbench_lab.hosts.inventory import load_inventory
    from webbench_lab.locallab import cpulimit
    from webbench_lab.provision import ENGINES
    from webbench_lab.provision.result import print_check

    if args.engine not in ENGINES:
        raise UserError(f"--engine {args.engine}: unknown engine; choose one of {', '.join(ENGINES)}")
    inventory = load_inventory(resolve_inventory(args.inventory))
    # Provisioning is not measured: a local lab's hosts run it on every CPU of the lab, the server
    # without its CPU limit (at a quarter of a core, installing the stack took twice as long).
    with contextlib.ExitStack() as unlimited:
        for host in inventory.hosts.values():
            unlimited.enter_context(cpulimit.whole_machine(host))
        result = ENGINES[args.engine](inventory, args.check)
    if args.json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
    elif args.check:
        print_check(result)
    return 0 if result.ok else 1


def _patch_for_pyinfra() -> None:
    """pyinfra runs on gevent, as its own CLI does (ansible-runner must not: its pty reads stall
    under it): patch before paramiko or ssl are imported. The lab addresses are IPs: gevent's
    blocking resolver avoids its thread pool, which prints tracebacks for lookups that paramiko
    expects to fail and handles."""
    os.environ.setdefault("GEVENT_RESOLVER", "block")
    from gevent import monkey

    monkey.patch_all()
