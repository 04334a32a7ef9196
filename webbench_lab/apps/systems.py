"""The systems under test, as data: apps/<system>/system.yml. Adding a system is adding a folder.

A system file says how the system is built and started; this module checks it and turns it, with a
level and the host's paths, into a launch spec for the appctl agent on the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from webbench_lab.agent.appctl import LaunchSpec
from webbench_lab.apps.models import MODELS, NginxFronted, ProcessModel, Start, nginx_site_path
from webbench_lab.errors import UserError
from webbench_lab.paths import REPO
from webbench_lab.yamlfile import display, load_mapping

APPS = REPO / "apps"
REQUIRED = {"display": str, "language": str, "lab": str, "model": str, "port": int}
OPTIONAL = {"start": str, "description": str, "build": str, "chroot": bool, "backend_port": int, "note": str}
NOTHING_TO_START = ("nginx-static",)  # models that start no program of the system's own


@dataclass(frozen=True)
class System:
    name: str
    display: str
    language: str
    lab: str
    model: str
    port: int
    start: str = ""
    build: str = "none"
    chroot: bool = False
    backend_port: int | None = None
    description: str = ""
    note: str = ""
    folder: Path = field(default=APPS, compare=False)

    @property
    def process_model(self) -> ProcessModel:
        return MODELS[self.model]

    def process_ports(self, level: int) -> list[int]:
        """Ports of the application processes themselves."""
        return self.process_model.process_ports(self, level)

    def load_ports(self, level: int) -> list[int]:
        """Where the load goes: N ports for N stand-alone processes (as Lab A), else one."""
        return self.process_model.load_ports(self, level)

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
    if "start" not in data and data["model"] not in NOTHING_TO_START:
        raise UserError(f"{where}: field 'start' is missing (str)")
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


def launch_spec(
    system: System, level: int, paths: HostPaths, env: dict[str, str], wait: float = 30
) -> LaunchSpec:
    """What appctl needs to start `system` at `level`: argv per process, files, ports; it has
    `wait` seconds to answer on every port."""
    env = {**env, "PYTHONPATH": f"{paths.apps}/python", "PYTHONUNBUFFERED": "1"}
    start = Start(system, level, paths, env)
    model = system.process_model
    return {
        "name": system.name,
        "processes": model.processes(start),
        "ports": system.all_ports(level),
        "unix_sockets": model.unix_sockets(start.run_dir),
        # Ready when every load port answers an HTTP request, not only accepts a connection.
        "ready_path": "/ping",
        "ready_ports": system.load_ports(level),
        "files": model.files(),
        "writable": model.writable(),
        "owner": paths.user,
        "log": f"{start.run_dir}/app.log",
        "wait": wait,
        "meta": {"level": level},
    }


def nginx_sites(v: dict[str, Any]) -> list[dict[str, Any]]:
    """The nginx config of every nginx-fronted system at every provisioned level, as both engines
    render it from templates/server/nginx.conf.j2: its path and the template's variables."""
    sites = []
    for system in all_systems().values():
        model = system.process_model
        if not isinstance(model, NginxFronted):
            continue
        run_dir = f"{v['apps_run_root']}/{system.name}"
        for level in v["nginx_fcgi_levels"]:
            sites.append(
                {
                    "dest": nginx_site_path(v["nginx_fcgi_config_dir"], system.name, level),
                    "run_dir": run_dir,
                    "listen_port": system.port,
                    **model.site(system, level, run_dir),
                }
            )
    return sites
