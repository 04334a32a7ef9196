"""What the control machine prepares once for either engine: the pinned downloads and builds the
hosts get, and the per-host data that comes from apps/ (jailed systems, nginx sites)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from webbench_lab.apps import systems
from webbench_lab.defaults import host_vars
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.hosts.ssh import CONNECT_TIMEOUT, check
from webbench_lab.provision import artifacts
from webbench_lab.provision.deploys.site import Artifacts
from webbench_lab.provision.roles import roles_of
from webbench_lab.ui import step


def preflight(inventory: LabInventory) -> None:
    """Log in to every host first: a bad key or address gets its own clear line, in parallel."""
    with ThreadPoolExecutor(max_workers=len(inventory.hosts)) as pool:
        list(pool.map(lambda h: check(h, CONNECT_TIMEOUT), inventory.hosts.values()))
    step(f"ssh: {len(inventory.hosts)} hosts reachable with strict host-key checking")


def prepare(inventory: LabInventory) -> Artifacts:
    pins = {tuple(host_vars(h.vars)[k] for k in artifacts.PIN_KEYS) for h in inventory.hosts.values()}
    if len(pins) > 1:  # one toolchain zip is prepared for every host
        raise UserError(
            f"{inventory.label}: go_toolchain_version (and its module version and h1) differ between hosts; "
            "set them once for all hosts"
        )
    (pin,) = pins
    toolchain, wheels, goproxy, k6 = artifacts.shared(pin, step)
    backend_hosts = inventory.group("backend") or inventory.group("generator")
    bundle = Artifacts(
        toolchain=toolchain,
        wheels=wheels,
        sources=artifacts.apps_bundle(),
        goproxy=goproxy,
        k6=k6,
        backend_hosts=[h.name for h in backend_hosts],
        jailed=sorted(s.name for s in systems.all_systems().values() if s.chroot),
        nginx_sites={h.name: systems.nginx_sites(host_vars(h.vars)) for h in inventory.group("server")},
        roles={h.name: roles_of(h.groups, h in backend_hosts) for h in inventory.hosts.values()},
    )
    step(
        f"artifacts ready: go{toolchain.version}, wheelhouse {wheels.digest}, "
        f"apps {bundle.sources.digest}, Go modules {bundle.goproxy.digest}"
    )
    return bundle
