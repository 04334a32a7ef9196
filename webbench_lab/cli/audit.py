"""`webbench-lab audit [--check [--baseline AUDIT_JSON]]`: take and store an audit, or list every drift
of the setup (runtime state shown apart) and exit 1 on drift."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from webbench_lab.cli.options import INVENTORY, json_option, resolve_inventory
from webbench_lab.errors import UserError
from webbench_lab.ui import console, out, step


def register(sub) -> None:
    aud = sub.add_parser(
        "audit",
        help="what every host is made of (audit.json, audit.md), or --check drift",
        parents=[INVENTORY, json_option("print the audit (or the drift list) as JSON")],
    )
    aud.add_argument(
        "--check",
        action="store_true",
        help="list drift of the setup from the desired state and from the last audit of the same "
        "machines (runtime state is shown apart); exit 1 on drift",
    )
    aud.add_argument(
        "--baseline",
        type=Path,
        metavar="AUDIT_JSON",
        help="with --check: compare with this audit (an audit.json, or its directory) instead of the "
        "last audit of the same machines",
    )
    aud.add_argument("--out", type=Path, help="audits root (default: audits/); a new folder every audit")
    aud.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from webbench_lab.audit import baseline, collect, drift
    from webbench_lab.audit.report import render_drift, render_runtime
    from webbench_lab.bench.results import default_root as results_root
    from webbench_lab.hosts.inventory import load_inventory

    if args.baseline is not None and not args.check:
        raise UserError("--baseline: only with --check (`webbench-lab audit --check --baseline AUDIT_JSON`)")
    pinned = baseline.load(args.baseline) if args.baseline is not None else None  # before any host
    inventory = load_inventory(resolve_inventory(args.inventory))
    root = args.out or collect.default_root()
    if args.check:
        # Without --baseline: the newest audit of the same machines, taken by `audit` or by a bench run.
        result = drift.check(inventory, [root, results_root()], pinned)
        step(result.baseline)
        drifts = result.drifts
        if args.json:
            sys.stdout.write(json.dumps([d.as_dict() for d in drifts], indent=2) + "\n")
        else:
            out.print(render_drift(drifts), markup=False)
            out.print(render_runtime(result.current), markup=False, end="")
        console.print(f"{len(drifts)} drift(s)" if drifts else "no drift", markup=False)
        return 1 if drifts else 0
    data = collect.collect(inventory)
    directory = collect.store(data, root, inventory)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    step(f"audit of {len(data['hosts'])} hosts in {data['seconds']} s: {directory / 'audit.md'}")
    return 0
