"""`webbench-lab audit [--check]`: take and store an audit, or list every drift and exit 1 on drift."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from webbench_lab.cli.options import INVENTORY, json_option, resolve_inventory
from webbench_lab.ui import console, out, step


def register(sub) -> None:
    aud = sub.add_parser(
        "audit",
        help="what every host is made of (audit.json, audit.md), or --check drift",
        parents=[INVENTORY, json_option("print the audit (or the drift list) as JSON")],
    )
    aud.add_argument(
        "--check", action="store_true", help="list drift from the desired state; exit 1 on drift"
    )
    aud.add_argument("--out", type=Path, help="audits root (default: audits/); a new folder every audit")
    aud.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from webbench_lab.audit import collect, drift
    from webbench_lab.audit.report import render_drift
    from webbench_lab.bench.results import default_root as results_root
    from webbench_lab.hosts.inventory import load_inventory

    inventory = load_inventory(resolve_inventory(args.inventory))
    root = args.out or collect.default_root()
    if args.check:
        # The baseline is the newest audit: taken by `audit`, or stored by a bench run.
        drifts, baseline = drift.check(inventory, [root, results_root()])
        step(baseline)
        if args.json:
            sys.stdout.write(json.dumps([d.as_dict() for d in drifts], indent=2) + "\n")
        else:
            out.print(render_drift(drifts), markup=False, end="")
        console.print(f"{len(drifts)} drift(s)" if drifts else "no drift", markup=False)
        return 1 if drifts else 0
    data = collect.collect(inventory)
    directory = collect.store(data, root, inventory)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    step(f"audit of {len(data['hosts'])} hosts in {data['seconds']} s: {directory / 'audit.md'}")
    return 0
