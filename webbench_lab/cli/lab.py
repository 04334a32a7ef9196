"""`webbench-lab lab up | down | status`: the local lab on this machine (as root): a generator and a
server, or several generators and a backend host (`--generators N`, `--backend`)."""

from __future__ import annotations

import argparse

from webbench_lab.errors import UserError
from webbench_lab.locallab import login
from webbench_lab.locallab.topology import (
    DEFAULT_BENCH_NET,
    DEFAULT_MGMT_NET,
    DEFAULT_SERVER_CPU,
    MAX_GENERATORS,
    SWITCHED_BENCH_NET,
    check_generators,
)
from webbench_lab.ui import out


def register(sub) -> None:
    lab = sub.add_parser("lab", help="the local lab on this machine (as root)")
    lab_sub = lab.add_subparsers(dest="lab_command", required=True, parser_class=type(lab))
    up = lab_sub.add_parser(
        "up", help="start fresh Debian 12 hosts (a generator and a server) and write inventory/local.yml"
    )
    up.add_argument("--mgmt-net", default=DEFAULT_MGMT_NET, help="management network (SSH)")
    up.add_argument(
        "--bench-net",
        default=None,
        help=f"benchmark network (default {DEFAULT_BENCH_NET} for a generator and a server, "
        f"{SWITCHED_BENCH_NET} with more hosts)",
    )
    up.add_argument(
        "--generators",
        type=_generators,
        default=1,
        metavar="N",
        help=f"N generator hosts (1 to {MAX_GENERATORS}; default 1), generator1..N when more than one: "
        "they get the CPUs the server does not have (shared when there are too few for one each), "
        "and a run splits its connections among them",
    )
    up.add_argument(
        "--backend",
        action="store_true",
        help="a backend host for the upstream API of /data/ (else it runs on the first generator)",
    )
    up.add_argument(
        "--server-cpu",
        type=_cores,
        default=DEFAULT_SERVER_CPU,
        metavar="CORES",
        help="the server's CPU time in cores (cgroup CFS quota, 10 ms period; "
        f"default {DEFAULT_SERVER_CPU:g}; 0: no limit)",
    )
    up.add_argument(
        "--login-user",
        type=_login_user,
        default=login.ROOT,
        metavar="NAME",
        help="log in as NAME, as on real machines: NAME has the lab's key and passwordless sudo, "
        "root login is refused, the inventory says ansible_become (default: root)",
    )
    up.add_argument(
        "--ssh-port",
        type=_ssh_port,
        default=login.SSH_PORT,
        metavar="PORT",
        help=f"the port sshd listens on in each host (default {login.SSH_PORT})",
    )
    up.set_defaults(handler=up_command)
    down = lab_sub.add_parser("down", help="stop the local lab and remove everything but the caches")
    down.set_defaults(handler=down_command)
    status = lab_sub.add_parser("status", help="which local hosts are up and reachable over SSH")
    status.set_defaults(handler=status_command)


def up_command(args: argparse.Namespace) -> int:
    from webbench_lab.locallab import lab
    from webbench_lab.provision import artifacts

    # While the hosts boot, the control machine fetches and builds what provisioning ships to them
    # (cold: about a minute, most of it k6's build), so that `make lab`'s provision finds it ready.
    lab.up(
        args.mgmt_net,
        args.bench_net,
        args.server_cpu,
        args.login_user,
        args.ssh_port,
        generators=args.generators,
        backend=args.backend,
        meanwhile=artifacts.ahead,
    )
    return 0


def _generators(text: str) -> int:
    try:
        return check_generators(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _login_user(text: str) -> str:
    try:
        return login.check_user(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ssh_port(text: str) -> int:
    try:
        return login.check_port(text, lab_ports())
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def lab_ports() -> dict[int, str]:
    """Ports the lab's own services listen on in the hosts (each system at levels up to 8, Redis,
    the upstream API): sshd there would keep them from starting."""
    from webbench_lab.apps import systems
    from webbench_lab.defaults import shared_defaults

    defaults = shared_defaults()
    taken = {defaults["redis_port"]: "Redis", defaults["backend_port"]: "the upstream API"}
    for system in systems.all_systems().values():
        for level in range(1, 9):
            taken.update({port: f"system {system.name}" for port in system.all_ports(level)})
    return taken


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
