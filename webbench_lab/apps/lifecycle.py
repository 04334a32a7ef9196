"""Start, stop and list the systems under test on the server, from the control machine over SSH."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

from webbench_lab.agent.appctl import ProcessesAnswer, RunLease, StopAnswer, SystemStatus
from webbench_lab.apps import services, systems
from webbench_lab.apps.builds import build_go
from webbench_lab.apps.systems import HostPaths, System
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.guard import in_use
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.locallab import cpulimit


@dataclass(frozen=True)
class Running:
    system: str
    level: int
    pid: int
    ports: list[int]
    log: str


class Lab:
    """Connections to the server and the backend host for the lifetime of a command."""

    def __init__(self, inventory: LabInventory, keep_services: bool = False) -> None:
        self.inventory = inventory
        # bench --keep-services: the services started here outlive the run (see _ensure).
        self.keep_services = keep_services
        self.started_services: list[str] = []  # those this Lab started, in order
        self.server = HostControl(inventory.group("server")[0])
        self.generator = HostControl(inventory.group("generator")[0])
        backend_host = services.backend_host(inventory)
        self.backend = (
            self.generator if backend_host.name == self.generator.host.name else HostControl(backend_host)
        )

    def controls(self) -> dict[str, HostControl]:
        """The open connections, by inventory host name."""
        return {hc.host.name: hc for hc in (self.server, self.generator, self.backend)}

    def close(self) -> None:
        for hc in self.controls().values():
            hc.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @functools.cached_property
    def paths(self) -> HostPaths:
        v = self.server.vars
        ids = self.server.sh(f"id -u {v['common_app_user']}; id -g {v['common_app_user']}").stdout.split()
        return HostPaths(
            uid=int(ids[0]),
            gid=int(ids[1]),
            apps=f"{v['apps_root']}/current",
            venv=v["python_stack_venv"],
            jail_root=v["chroot_jail_dir"],
            build_root=v["apps_build_root"],
            run_root=v["apps_run_root"],
            user=v["common_app_user"],
            nginx_dir=v["nginx_fcgi_config_dir"],
            nginx_levels=tuple(v["nginx_fcgi_levels"]),
        )

    def build(self, system: System, force: bool = False):
        """A Go build on the server, on every CPU of a local lab and without its CPU limit: it is
        not measured, and at a quarter of a core a first build takes minutes."""
        with cpulimit.whole_machine(self.server.host):
            return build_go(self.server, system.name, jail=system.chroot, force=force)

    def start(self, system: System, level: int) -> Running:
        """Build if needed, make sure Redis and the upstream API run, start, wait for every port."""
        if system.build == "go":
            built = self.build(system)
            if not built.ok:
                raise UserError(f"system {system.name}: not buildable: {built.reason}")
        self._ensure(services.REDIS, self.server, services.ensure_redis)
        self._ensure(services.BACKEND, self.backend, services.ensure_backend)
        env = {
            "WEBBENCH_API": services.api_url(self.inventory),
            "WEBBENCH_REDIS_HOST": "127.0.0.1",
            "WEBBENCH_REDIS_PORT": str(self.server.vars["redis_port"]),
        }
        spec = systems.launch_spec(
            system, level, self.paths, env, wait=self.server.vars["apps_start_timeout"]
        )
        answer = self.server.start(spec, timeout=spec["wait"] + 60)
        if not answer.get("ok"):
            error = answer.get("error", "failed to start")
            if "already" in error or "in use" in error:
                raise UserError(f"system {system.name}: {error}; stop it first (`webbench-lab app stop`)")
            tail = "\n  ".join(answer.get("log_tail", []))
            raise LabFailure(f"system {system.name}: {error}; last lines of {answer.get('log')}:\n  {tail}")
        return Running(
            system.name, level, answer.get("pid", 0), answer.get("ports", []), answer.get("log", "")
        )

    def stop(self, system: System) -> StopAnswer:
        """End the whole process group (TERM, then KILL) and confirm every port it used is free."""
        answer = self.server.stop(system.name)
        if not answer.get("ok"):
            raise LabFailure(f"system {system.name}: {answer.get('error')}")
        return answer

    def _ensure(self, name: str, hc: HostControl, ensure: Callable[[HostControl], bool]) -> None:
        """A service started unless it runs, and remembered when this Lab started it. A service to
        keep is started without the run's id: the run's guard would end it, and the next run's
        would end it as a leftover of a dead run."""
        with hc.outside_run() if self.keep_services else contextlib.nullcontext():
            if ensure(hc):
                self.started_services.append(name)

    def stop_services(self) -> None:
        services.stop_services(self.server, self.backend)

    def stop_started_services(self) -> tuple[list[str], list[str]]:
        """Stop the services this Lab started (not those it found running: they are left as they
        were), each once: those stopped, and one line per service that did not stop."""
        stopped, problems = [], []
        while self.started_services:
            name = self.started_services.pop(0)
            hc = self.server if name == services.REDIS else self.backend
            try:
                answer = services.stop_service(hc, name)
            except LabFailure as exc:
                problems.append(f"{name}: {exc}")
                continue
            if answer.get("ok"):
                stopped.append(name)
            else:
                problems.append(f"{name}: {answer.get('error', 'not stopped')}")
        return stopped, problems

    def holder(self) -> RunLease | None:
        """The benchmark run that holds the lab now (its guard lives on the server), if any."""
        return self.server.processes()["lease"]

    def refuse_if_held(self, what: str) -> None:
        """`app start` during a run would change what the run measures: one line, exit 2."""
        lease = self.holder()
        if lease:
            raise UserError(f"{what}: {in_use(self.server.host.name, lease)}")

    def processes(self) -> dict[str, ProcessesAnswer]:
        """Every process of the lab on each host, and the run holding each host, by host name."""
        return {name: hc.processes() for name, hc in self.controls().items()}

    def status(self) -> dict[str, SystemStatus]:
        """appctl's view of every system on the server: running, pid, processes, level."""
        names = list(systems.all_systems())
        return self.server.status(*names, services.REDIS)["systems"]

    def probe(self, system: System, level: int) -> list:
        """GET every endpoint from the generator, over the benchmark link, on every load port."""
        from webbench_lab.apps import verify

        ports = system.load_ports(level)
        address = self.server.host.bench_address
        answer = self.generator.probe(verify.urls(address, ports))
        return verify.check_system(answer["answers"], ports)
