"""`webbench-lab verify`: every endpoint of the systems, checked from the generator."""

from __future__ import annotations

import argparse

from rich.table import Table

from webbench_lab.apps import systems
from webbench_lab.cli.options import INVENTORY, resolve_inventory
from webbench_lab.ui import out, step


def register(sub) -> None:
    ver = sub.add_parser(
        "verify", help="check every endpoint of the systems from the generator", parents=[INVENTORY]
    )
    ver.add_argument("systems", nargs="*", help="systems to verify (default: all)")
    ver.add_argument("--level", default="1", help="level to start a system that is not running")
    ver.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from webbench_lab.apps.lifecycle import Lab
    from webbench_lab.apps.verify import verify_systems
    from webbench_lab.hosts.inventory import load_inventory
    from webbench_lab.locallab import cpulimit

    names = args.systems or list(systems.all_systems())
    for name in names:
        systems.get(name)
    level = systems.check_level(args.level)
    inventory = load_inventory(resolve_inventory(args.inventory))
    # It checks answers and measures nothing: a local lab's server runs it without its CPU limit
    # (a Python system imports about 4 times slower at a quarter core).
    with Lab(inventory) as lab, cpulimit.unlimited(lab.server.host):
        verdicts = verify_systems(
            lab, names, level, on_result=lambda v: step(f"verify {v.system}: {v.status}")
        )
    out.print(verdict_table(verdicts))
    for v in verdicts:
        if not v.ok:
            out.print(f"{v.system}: {v.reason}", markup=False)
    # A row that today's toolchain cannot build is reported, not counted as a wrong answer.
    return 0 if all(v.status != "FAIL" for v in verdicts) else 1


def verdict_table(verdicts) -> Table:
    from webbench_lab.apps.verify import ENDPOINTS

    table = Table("system", *[e.path for e in ENDPOINTS], "result", title="verification gate")
    for v in verdicts:
        cells = {c.path: ("pass" if c.ok else "[red]FAIL[/red]") for c in v.checks}
        table.add_row(
            v.system,
            *[cells.get(e.path, "-") for e in ENDPOINTS],
            {"pass": "[green]pass[/green]", "FAIL": "[red]FAIL[/red]"}.get(v.status, v.status),
        )
    return table
