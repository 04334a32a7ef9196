"""`webbench-lab app ...` and `webbench-lab verify`: what they print and their exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from webbench_lab import systems
from webbench_lab.inventory import load_inventory
from webbench_lab.lifecycle import Lab
from webbench_lab.ui import out, step
from webbench_lab.verify import ENDPOINTS, Verdict, verify_systems


def app_command(args: argparse.Namespace, inventory_path: Path) -> int:
    # Check the names before connecting anywhere: bad input changes nothing.
    if args.app_command == "start":
        system = systems.get(args.system)
        level = systems.check_level(args.level)
    elif args.app_command == "stop" and args.system != "services":
        system = systems.get(args.system)
    elif args.app_command == "build":
        names = args.systems or [n for n, s in systems.all_systems().items() if s.build == "go"]
        chosen = [systems.get(n) for n in names]
    inventory = load_inventory(inventory_path)
    with Lab(inventory) as lab:
        if args.app_command == "start":
            running = lab.start(system, level)
            out.print(
                f"{system.name} (level {level}) running: pid {running.pid}, ports "
                f"{', '.join(map(str, running.ports))} on {lab.server.host.bench_address}; log {running.log}"
            )
            return 0
        if args.app_command == "stop":
            if args.system == "services":
                lab.stop_services()
                out.print("Redis and the upstream API stopped")
                return 0
            answer = lab.stop(system)
            how = "TERM then KILL" if answer.get("killed") else "TERM"
            out.print(f"{system.name} stopped ({how}); its ports are free")
            return 0
        if args.app_command == "build":
            failed = 0
            for s in chosen:
                if s.build != "go":
                    out.print(f"{s.name:18} nothing to build ({s.language})")
                    continue
                result = lab.build(s, force=args.force)
                failed += not result.ok
                text = f"built {result.binary}" if result.ok else f"not buildable: {result.reason}"
                out.print(f"{s.name:18} {text}", markup=False)
            return 1 if failed else 0
        return _list(lab)


def _list(lab: Lab) -> int:
    status = lab.status()
    table = Table("system", "row", "lab", "model", "state", "level", "ports", "processes")
    for name, system in systems.all_systems().items():
        st = status.get(name, {})
        level = st.get("meta", {}).get("level")
        ports = ", ".join(map(str, system.load_ports(level))) if level else str(system.port)
        table.add_row(
            name,
            system.display,
            system.lab,
            system.model,
            "running" if st.get("running") else "stopped",
            str(level or ""),
            ports,
            str(len(st.get("processes", []))),
        )
    out.print(table)
    return 0


def verify_command(args: argparse.Namespace, inventory_path: Path) -> int:
    names = args.systems or list(systems.all_systems())
    for name in names:
        systems.get(name)
    level = systems.check_level(args.level)
    inventory = load_inventory(inventory_path)
    with Lab(inventory) as lab:
        verdicts = verify_systems(
            lab, names, level, on_result=lambda v: step(f"verify {v.system}: {v.status}")
        )
    out.print(verdict_table(verdicts))
    for v in verdicts:
        if not v.ok:
            out.print(f"{v.system}: {v.reason}", markup=False)
    # A row that today's toolchain cannot build is reported, not counted as a wrong answer.
    return 0 if all(v.status != "FAIL" for v in verdicts) else 1


def verdict_table(verdicts: list[Verdict]) -> Table:
    table = Table("system", *[e.path for e in ENDPOINTS], "result", title="verification gate")
    for v in verdicts:
        cells = {c.path: ("pass" if c.ok else "[red]FAIL[/red]") for c in v.checks}
        table.add_row(
            v.system,
            *[cells.get(e.path, "-") for e in ENDPOINTS],
            {"pass": "[green]pass[/green]", "FAIL": "[red]FAIL[/red]"}.get(v.status, v.status),
        )
    return table
