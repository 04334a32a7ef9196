"""Process models: how a system of each kind runs at a level. systems.yml names the model; the
model owns its ports, the processes it starts, and how many CPUs a level asks for.

- goroutines: one Go process, GOMAXPROCS = level (chrooted when the system says so);
- processes: N stand-alone processes on N ports, the load split over them (Lab A's Python rows);
- workers: one server with N workers on one port (gunicorn, uvicorn);
- nginx-proxy: N processes behind nginx's upstream (proxy_pass);
- nginx-fastcgi: spawn-fcgi -F N processes on one unix socket behind nginx's fastcgi_pass;
- nginx-static: nginx alone, answering every verified endpoint from a file with the exact reply:
  a target that costs the server almost nothing (the generator's ceiling, bench/ceiling.py).
"""

from __future__ import annotations

import shlex
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from webbench_lab.agent.appctl import ProcessSpec
from webbench_lab.errors import UserError
from webbench_lab.templating import environment

if TYPE_CHECKING:
    from webbench_lab.apps.systems import HostPaths, System

NGINX_WORKERS = 1  # worker_processes in templates/server/nginx.conf.j2


def run_as(user: str) -> list[str]:
    """argv prefix that drops root for the unprivileged app user (no PAM, works without login)."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]


def nginx_site_path(config_dir: str, name: str, level: int) -> str:
    return f"{config_dir}/{name}-L{level}.conf"


@dataclass(frozen=True)
class Start:
    """What a model needs to start a system at a level on the server."""

    system: System
    level: int
    paths: HostPaths
    env: dict[str, str]

    @property
    def run_dir(self) -> str:
        return f"{self.paths.run_root}/{self.system.name}"

    @property
    def as_user(self) -> list[str]:
        return run_as(self.paths.user)

    def command(self, port: int | None = None) -> list[str]:
        """The system's start command (systems.yml `start`) rendered for this level and port."""
        system, paths = self.system, self.paths
        binary = f"/{system.name}" if system.chroot else f"{paths.build_root}/{system.name}/{system.name}"
        context = {"level": self.level, "python": paths.python, "venv": paths.venv, "apps": paths.apps}
        text = environment().from_string(system.start).render(**context, port=port, binary=binary)
        return shlex.split(text)


class ProcessModel(ABC):
    name: ClassVar[str]
    fronted: ClassVar[bool] = False  # nginx in front: a provisioned site per level, its error log

    def process_ports(self, system: System, level: int) -> list[int]:
        """Ports of the application processes themselves."""
        return [system.port]

    def load_ports(self, system: System, level: int) -> list[int]:
        """Where the load goes."""
        return [system.port]

    def cpus_asked(self, level: int) -> int:
        """CPUs the system can keep busy at `level` (a level asking more than the server has is
        measuring the scheduler, not the system)."""
        return level

    @abstractmethod
    def processes(self, start: Start) -> list[ProcessSpec]:
        """The processes to start, each with its argv and environment."""

    def unix_sockets(self, run_dir: str) -> list[str]:
        return []

    def writable(self) -> list[str]:
        """Directories under the run directory the app user writes to."""
        return [""]

    def log_files(self, run_dir: str) -> list[str]:
        return [f"{run_dir}/app.log"]

    def files(self) -> dict[str, str]:
        """Files the agent writes under the run directory before the start (relative path: text)."""
        return {}


class Goroutines(ProcessModel):
    name = "goroutines"

    def processes(self, start: Start) -> list[ProcessSpec]:
        system, paths = start.system, start.paths
        argv = start.command(system.port)
        if system.chroot:
            jail = f"{paths.jail_root}/{system.name}"
            # Numeric ids: the jail has no /etc/passwd to look the user up in.
            argv = ["chroot", f"--userspec={paths.uid}:{paths.gid}", jail, *argv]
        else:
            argv = start.as_user + argv
        return [{"argv": argv, "env": {**start.env, "GOMAXPROCS": str(start.level)}}]


class Processes(ProcessModel):
    name = "processes"

    def process_ports(self, system: System, level: int) -> list[int]:
        return [system.port + i for i in range(level)]

    def load_ports(self, system: System, level: int) -> list[int]:
        return self.process_ports(system, level)

    def processes(self, start: Start) -> list[ProcessSpec]:
        ports = self.process_ports(start.system, start.level)
        return [{"argv": start.as_user + start.command(port), "env": start.env} for port in ports]


class Workers(ProcessModel):
    name = "workers"

    def processes(self, start: Start) -> list[ProcessSpec]:
        return [{"argv": start.as_user + start.command(start.system.port), "env": start.env}]


class NginxFronted(ProcessModel):
    """The application's processes, then nginx with the site provisioned for this level."""

    fronted = True

    def cpus_asked(self, level: int) -> int:
        return level + NGINX_WORKERS

    @abstractmethod
    def app_processes(self, start: Start) -> list[ProcessSpec]: ...

    def processes(self, start: Start) -> list[ProcessSpec]:
        paths, system, level = start.paths, start.system, start.level
        if level not in paths.nginx_levels:
            levels = ", ".join(map(str, paths.nginx_levels))
            raise UserError(
                f"system {system.name}: level {level} has no provisioned nginx site (levels {levels}); "
                "add it to nginx_fcgi_levels in the inventory and run `webbench-lab provision`"
            )
        nginx = [
            "nginx",
            "-p",
            f"{start.run_dir}/",
            "-e",
            f"{start.run_dir}/nginx-error.log",
            "-c",
            nginx_site_path(paths.nginx_dir, system.name, level),
        ]
        return [*self.app_processes(start), {"argv": start.as_user + nginx, "env": start.env}]

    def writable(self) -> list[str]:
        return ["", "nginx-temp"]

    def log_files(self, run_dir: str) -> list[str]:
        return [f"{run_dir}/app.log", f"{run_dir}/nginx-error.log"]

    def site(self, system: System, level: int, run_dir: str) -> dict[str, Any]:
        """What templates/server/nginx.conf.j2 needs besides the run directory and the port."""
        return {"upstream_ports": [], "fastcgi_socket": None, "static_root": None, "static_types": {}}


class NginxProxy(NginxFronted):
    name = "nginx-proxy"

    def process_ports(self, system: System, level: int) -> list[int]:
        assert system.backend_port is not None  # systems.yml is checked for it
        return [system.backend_port + i for i in range(level)]

    def app_processes(self, start: Start) -> list[ProcessSpec]:
        ports = self.process_ports(start.system, start.level)
        return [{"argv": start.as_user + start.command(port), "env": start.env} for port in ports]

    def site(self, system: System, level: int, run_dir: str) -> dict[str, Any]:
        return {**super().site(system, level, run_dir), "upstream_ports": self.process_ports(system, level)}


class NginxFastCGI(NginxFronted):
    name = "nginx-fastcgi"

    def process_ports(self, system: System, level: int) -> list[int]:
        return []

    def app_processes(self, start: Start) -> list[ProcessSpec]:
        run_dir = start.run_dir
        spawn = ["spawn-fcgi", "-s", self.unix_sockets(run_dir)[0], "-M", "0600", "-F", str(start.level),
                 "-P", f"{run_dir}/spawn-fcgi.pid", "--"]  # fmt: skip
        return [{"argv": start.as_user + spawn + start.command(), "env": start.env}]

    def unix_sockets(self, run_dir: str) -> list[str]:
        return [f"{run_dir}/fcgi.sock"]

    def site(self, system: System, level: int, run_dir: str) -> dict[str, Any]:
        return {**super().site(system, level, run_dir), "fastcgi_socket": self.unix_sockets(run_dir)[0]}


class NginxStatic(NginxFronted):
    """nginx's one worker serving, from files, exactly what the verification gate expects of every
    endpoint (same bytes, same media type): what a load tool can drive when the server costs almost
    nothing. The level does not matter."""

    name = "nginx-static"

    def cpus_asked(self, level: int) -> int:
        return NGINX_WORKERS

    def process_ports(self, system: System, level: int) -> list[int]:
        return []

    def app_processes(self, start: Start) -> list[ProcessSpec]:
        return []

    def files(self) -> dict[str, str]:
        from webbench_lab.apps.verify import ENDPOINTS

        found = [e for e in ENDPOINTS if e.status == 200 and e.body is not None]
        return {f"{STATIC_DIR}{e.path}": (e.body or b"").decode() for e in found}

    def site(self, system: System, level: int, run_dir: str) -> dict[str, Any]:
        from webbench_lab.apps.verify import ENDPOINTS

        types = {e.path: e.media_type for e in ENDPOINTS if e.status == 200 and e.media_type != "text/plain"}
        return {"upstream_ports": [], "fastcgi_socket": None, "static_root": f"{run_dir}/{STATIC_DIR}",
                "static_types": types}  # fmt: skip

    def serves(self, path: str) -> bool:
        return f"{STATIC_DIR}{path}" in self.files()


STATIC_DIR = "www"
MODELS: dict[str, ProcessModel] = {
    m.name: m for m in (Goroutines(), Processes(), Workers(), NginxProxy(), NginxFastCGI(), NginxStatic())
}
