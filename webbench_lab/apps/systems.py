"""The systems under test, as data: apps/<system>/system.yml. Adding a system is adding a folder.

A system file says how the system is built and started; this module checks it and turns it, with a
level and the host's paths, into a launch spec for the appctl agent on the server.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from webbench_lab.agent.appctl import LaunchSpec, ProcessSpec
from webbench_lab.errors import UserError
from webbench_lab.paths import REPO
from webbench_lab.templating import environment
from webbench_lab.yamlfile import display, load_mapping

APPS = REPO / "apps"
MODELS = ("goroutines", "processes", "workers", "nginx-proxy", "nginx-fastcgi")
REQUIRED = {"display": str, "language": str, "lab": str, "model": str, "port": int, "start": str}
OPTIONAL = {"description": str, "build": str, "chroot": bool, "backend_port": int, "note": str}


@dataclass(frozen=True)
class System:
    name: str
    display: str
    language: str
    lab: str
    model: str
    port: int
    start: str
    build: str = "none"
    chroot: bool = False
    backend_port: int | None = None
    description: str = ""
    note: str = ""
    folder: Path = field(default=APPS, compare=False)

    def process_ports(self, level: int) -> list[int]:
        """Ports of the application processes themselves."""
        if self.model == "processes":
            return [self.port + i for i in range(level)]
        if self.model == "nginx-proxy":
            assert self.backend_port is not None
            return [self.backend_port + i for i in range(level)]
        if self.model == "nginx-fastcgi":
            return []
        return [self.port]

    def load_ports(self, level: int) -> list[int]:
        """Where the load goes: N ports for N stand-alone processes (as Lab A), else one."""
        return self.process_ports(level) if self.model == "processes" else [self.port]

    def all_ports(self, level: int) -> list[int]:
        return sorted(set(self.process_ports(level)) | set(self.load_ports(level)))


@cache
def all_systems() -> dict[str, System]:
    systems = {}
    for path in sorted(APPS.glob("*/system.yml")):
        systems[path.parent.name] = load_system(path)
    return systems


def load_system(path: Path) -> System:
    where = display(path)
    data = load_mapping(path)
    for key, typ in REQUIRED.items():
        if key not in data:
            raise UserError(f"{where}: field '{key}' is missing ({typ.__name__})")
    for key, value in data.items():
        expected = REQUIRED.get(key) or OPTIONAL.get(key)
        if expected is None:
            raise UserError(f"{where}: unknown field '{key}'; known: {', '.join([*REQUIRED, *OPTIONAL])}")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise UserError(f"{where}: field '{key}' must be {expected.__name__}, not {type(value).__name__}")
    if data["model"] not in MODELS:
        raise UserError(f"{where}: model '{data['model']}' is not one of {', '.join(MODELS)}")
    if data["model"] == "nginx-proxy" and "backend_port" not in data:
        raise UserError(f"{where}: model nginx-proxy needs 'backend_port' (int)")
    if data.get("build", "none") not in ("none", "go"):
        raise UserError(f"{where}: build must be 'none' or 'go'")
    return System(name=path.parent.name, folder=path.parent, **data)


def get(name: str) -> System:
    systems = all_systems()
    if name not in systems:
        raise UserError(f"unknown system '{name}'; known systems: {', '.join(systems)}")
    return systems[name]


def check_level(level: Any) -> int:
    try:
        value = int(level)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or str(level).strip() != str(value):
        raise UserError(f"--level {level!r}: a level is a positive integer (1, 2, 4, ...)")
    return value


@dataclass(frozen=True)
class HostPaths:
    """Where provisioning put things on the server (from the shared defaults)."""

    apps: str
    venv: str
    jail_root: str
    build_root: str
    run_root: str
    user: str
    nginx_dir: str  # nginx_fcgi_config_dir
    nginx_levels: tuple[int, ...]  # nginx_fcgi_levels: the levels with a provisioned site
    uid: int = 0
    gid: int = 0

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"


def run_as(user: str) -> list[str]:
    """argv prefix that drops root for the unprivileged app user (no PAM, works without login)."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def launch_spec(
    system: System, level: int, paths: HostPaths, env: dict[str, str], wait: float = 30
) -> LaunchSpec:
    """What appctl needs to start `system` at `level`: argv per process, files, ports; it has
    `wait` seconds to answer on every port."""
    run_dir = f"{paths.run_root}/{system.name}"
    context = {"level": level, "python": paths.python, "venv": paths.venv, "apps": paths.apps}
    env = {**env, "PYTHONPATH": f"{paths.apps}/python", "PYTHONUNBUFFERED": "1"}
    as_user = run_as(paths.user)
    processes: list[ProcessSpec] = []

    def command(port: int | None = None) -> list[str]:
        binary = f"/{system.name}" if system.chroot else f"{paths.build_root}/{system.name}/{system.name}"
        text = environment().from_string(system.start).render(**context, port=port, binary=binary)
        return shlex.split(text)

    if system.model == "goroutines":
        argv = command(system.port)
        if system.chroot:
            jail = f"{paths.jail_root}/{system.name}"
            # Numeric ids: the jail has no /etc/passwd to look the user up in.
            argv = ["chroot", f"--userspec={paths.uid}:{paths.gid}", jail, *argv]
        else:
            argv = as_user + argv
        processes.append({"argv": argv, "env": {**env, "GOMAXPROCS": str(level)}})
    elif system.model == "workers":
        processes.append({"argv": as_user + command(system.port), "env": env})
    elif system.model in ("processes", "nginx-proxy"):
        for port in system.process_ports(level):
            processes.append({"argv": as_user + command(port), "env": env})
    if system.model == "nginx-fastcgi":
        socket = f"{run_dir}/fcgi.sock"
        spawn = [
            "spawn-fcgi",
            "-s",
            socket,
            "-M",
            "0600",
            "-F",
            str(level),
            "-P",
            f"{run_dir}/spawn-fcgi.pid",
            "--",
        ]
        processes.append({"argv": as_user + spawn + command(), "env": env})
    if system.model.startswith("nginx"):
        if level not in paths.nginx_levels:
            levels = ", ".join(map(str, paths.nginx_levels))
            raise UserError(
                f"system {system.name}: level {level} has no provisioned nginx site (levels {levels}); "
                "add it to nginx_fcgi_levels in the inventory and run `webbench-lab provision`"
            )
        nginx = [
            "nginx",
            "-p",
            f"{run_dir}/",
            "-e",
            f"{run_dir}/nginx-error.log",
            "-c",
            nginx_site_path(paths.nginx_dir, system.name, level),
        ]
        processes.append({"argv": as_user + nginx, "env": env})
    return {
        "name": system.name,
        "processes": processes,
        "ports": system.all_ports(level),
        "unix_sockets": [f"{run_dir}/fcgi.sock"] if system.model == "nginx-fastcgi" else [],
        # Ready when every load port answers an HTTP request, not only accepts a connection.
        "ready_path": "/ping",
        "ready_ports": system.load_ports(level),
        "files": {},
        "writable": ["", "nginx-temp"] if system.model.startswith("nginx") else [""],
        "owner": paths.user,
        "log": f"{run_dir}/app.log",
        "wait": wait,
        "meta": {"level": level},
    }


def nginx_site_path(config_dir: str, name: str, level: int) -> str:
    return f"{config_dir}/{name}-L{level}.conf"


def nginx_sites(v: dict[str, Any]) -> list[dict[str, Any]]:
    """The nginx config of every nginx-fronted system at every provisioned level, as both engines
    render it from templates/server/nginx.conf.j2: its path and the template's variables."""
    sites = []
    for system in all_systems().values():
        if not system.model.startswith("nginx"):
            continue
        run_dir = f"{v['apps_run_root']}/{system.name}"
        for level in v["nginx_fcgi_levels"]:
            sites.append(
                {
                    "dest": nginx_site_path(v["nginx_fcgi_config_dir"], system.name, level),
                    "run_dir": run_dir,
                    "listen_port": system.port,
                    "upstream_ports": system.process_ports(level) if system.model == "nginx-proxy" else [],
                    "fastcgi_socket": f"{run_dir}/fcgi.sock" if system.model == "nginx-fastcgi" else None,
                }
            )
    return sites
