"""The `audit` command: take and store an audit, or (--check) list every drift and exit 1 on drift."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from webbench_lab import audit, drift
from webbench_lab.auditreport import render_drift
from webbench_lab.inventory import load_inventory
from webbench_lab.ui import console, out, step


def audit_command(args: argparse.Namespace, inventory_path: Path) -> int:
    inventory = load_inventory(inventory_path)
    root = args.out or audit.default_root()
    if args.check:
        drifts, baseline = drift.check(inventory, [root])
        step(baseline)
        if args.json:
            sys.stdout.write(json.dumps([d.as_dict() for d in drifts], indent=2) + "\n")
        else:
            out.print(render_drift(drifts), markup=False, end="")
        console.print(f"{len(drifts)} drift(s)" if drifts else "no drift", markup=False)
        return 1 if drifts else 0
    data = audit.collect(inventory)
    directory = audit.store(data, root, inventory)
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    step(f"audit of {len(data['hosts'])} hosts in {data['seconds']} s: {directory / 'audit.md'}")
    return 0
