"""`webbench-lab app start | stop | list | build`: the systems under test on the server."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from webbench_lab.apps import systems
from webbench_lab.cli.options import INVENTORY, resolve_inventory
from webbench_lab.ui import out

if TYPE_CHECKING:
    from webbench_lab.agent.appctl import ProcessesAnswer
    from webbench_lab.apps.lifecycle import Lab


def register(sub) -> None:
    app = sub.add_parser("app", help="build, start, stop and list the systems under test")
    app_sub = app.add_subparsers(dest="app_command", required=True, parser_class=type(app))
    start = app_sub.add_parser(
        "start", help="start a system; returns when every port answers", parents=[INVENTORY]
    )
    start.add_argument("system")
    start.add_argument("--level", default="1", help="1, 2, 4: GOMAXPROCS, processes or workers")
    start.set_defaults(handler=start_command)
    stop = app_sub.add_parser(
        "stop", help="stop a system (whole process group, TERM then KILL)", parents=[INVENTORY]
    )
    stop.add_argument("system", help="a system, or `services` for Redis and the upstream API")
    stop.set_defaults(handler=stop_command)
    listing = app_sub.add_parser(
        "list", help="every system: built, running, level, ports", parents=[INVENTORY]
    )
    listing.set_defaults(handler=list_command)
    build = app_sub.add_parser(
        "build", help="build the Go systems (all, or those named)", parents=[INVENTORY]
    )
    build.add_argument("systems", nargs="*")
    build.add_argument("--force", action="store_true", help="rebuild even if this release was built")
    build.set_defaults(handler=build_command)


def _lab(args: argparse.Namespace) -> Lab:
    from webbench_lab.apps.lifecycle import Lab
    from webbench_lab.hosts.inventory import load_inventory

    return Lab(load_inventory(resolve_inventory(args.inventory)))


# Each handler checks the names before connecting anywhere: bad input changes nothing.


def start_command(args: argparse.Namespace) -> int:
    system = systems.get(args.system)
    level = systems.check_level(args.level)
    with _lab(args) as lab:
        lab.refuse_if_held(f"app start {system.name}")
        running = lab.start(system, level)
        out.print(
            f"{system.name} (level {level}) running: pid {running.pid}, ports "
            f"{', '.join(map(str, running.ports))} on {lab.server.host.bench_address}; log {running.log}"
        )
    return 0


def stop_command(args: argparse.Namespace) -> int:
    system = None if args.system == "services" else systems.get(args.system)
    with _lab(args) as lab:
        if system is None:
            lab.stop_services()
            out.print("Redis and the upstream API stopped")
            return 0
        answer = lab.stop(system)
    how = "TERM then KILL" if answer.get("killed") else "TERM"
    out.print(f"{system.name} stopped ({how}); its ports are free")
    return 0


def build_command(args: argparse.Namespace) -> int:
    names = args.systems or [n for n, s in systems.all_systems().items() if s.build == "go"]
    chosen = [systems.get(n) for n in names]
    failed = 0
    with _lab(args) as lab:
        for s in chosen:
            if s.build != "go":
                out.print(f"{s.name:18} nothing to build ({s.language})")
                continue
            result = lab.build(s, force=args.force)
            failed += not result.ok
            text = f"built {result.binary}" if result.ok else f"not buildable: {result.reason}"
            out.print(f"{s.name:18} {text}", markup=False)
    return 1 if failed else 0


def list_command(args: argparse.Namespace) -> int:
    from rich.table import Table

    with _lab(args) as lab:
        status = lab.status()
        procs = lab.processes()
    table = Table("system", "row", "lab", "model", "state", "level", "ports", "processes")
    for name, system in systems.all_systems().items():
        st = status.get(name)
        level = st["meta"].get("level") if st else None
        ports = ", ".join(map(str, system.load_ports(level))) if level else str(system.port)
        table.add_row(
            name,
            system.display,
            system.lab,
            system.model,
            "running" if st and st["running"] else "stopped",
            str(level or ""),
            ports,
            str(len(st["processes"]) if st else 0),
        )
    out.print(table)
    out.print(process_table(procs))
    return 0


def process_table(procs: dict[str, ProcessesAnswer]):
    """Every process of the lab on every host: what it belongs to and which run started it; one
    whose run no longer holds the lab is an orphan (its driver died and its guard did not end it)."""
    from rich.table import Table

    table = Table("host", "pid", "of", "run", "state", "command", title="processes of the lab")
    for host, answer in procs.items():
        lease = answer["lease"]
        holder = lease["run_id"] if lease else None
        if holder:
            out.print(f"{host}: held by run {holder} (started {lease.get('started') if lease else '?'})")
        for p in answer["processes"]:
            if not p["run"]:
                state = "started by hand"
            elif p["run"] == holder:
                state = "its run is going"
            else:
                state = "orphan: its run has ended"
            table.add_row(host, str(p["pid"]), p["name"], p["run"] or "-", state, p["args"][:60])
    return table
