"""Provision the lab with pyinfra's Python API over SSH, from the lab's Ansible inventory.

pyinfra 3 has no Ansible inventory connector, so its Inventory is built from our parsed one; every
host gets strict host-key checking against the inventory's known_hosts.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pyinfra.api import BaseStateCallback

from webbench_lab import artifacts
from webbench_lab.defaults import host_vars, shared_defaults
from webbench_lab.errors import LabFailure
from webbench_lab.inventory import LabHost, LabInventory
from webbench_lab.provision.result import HostResult, ProvisionResult
from webbench_lab.remote import CONNECT_TIMEOUT, check
from webbench_lab.ui import console, step


def pyinfra_host_data(host: LabHost) -> dict[str, Any]:
    """The pyinfra data of one host: the shared defaults, the inventory vars, the SSH settings."""
    data = host_vars(host.vars)
    data.update(
        ssh_hostname=host.address,
        ssh_port=host.port,
        ssh_user=host.user,
        ssh_known_hosts_file=str(host.known_hosts),
        ssh_strict_host_key_checking="yes",
        ssh_allow_agent=False,
        ssh_look_for_keys=False,
    )
    if host.key_file:
        data["ssh_key"] = str(host.key_file)
    if host.become:
        data["_sudo"] = True
    return data


def build_inventory(inventory: LabInventory):
    from pyinfra.api import Inventory

    names = [(h.name, pyinfra_host_data(h)) for h in inventory.hosts.values()]
    groups = {
        group: ([h.name for h in inventory.group(group)], {})
        for group in ("generator", "server", "backend")
        if inventory.group(group)
    }
    return Inventory((names, {}), **groups)


def preflight(inventory: LabInventory) -> None:
    """Log in to every host first: a bad key or address gets its own clear line, in parallel."""
    with ThreadPoolExecutor(max_workers=len(inventory.hosts)) as pool:
        list(pool.map(lambda h: check(h, CONNECT_TIMEOUT), inventory.hosts.values()))


def provision(inventory: LabInventory) -> ProvisionResult:
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    from webbench_lab.deploys.site import Artifacts, site

    started = time.monotonic()
    logging.getLogger("pyinfra").setLevel(logging.CRITICAL)
    preflight(inventory)
    step(f"ssh: {len(inventory.hosts)} hosts reachable with strict host-key checking")

    defaults = shared_defaults()
    toolchain = artifacts.go_toolchain(
        defaults["go_toolchain_version"],
        defaults["go_toolchain_module_version"],
        defaults["go_toolchain_h1"],
        step,
    )
    wheels = artifacts.wheelhouse(step)
    go = artifacts.control_go(toolchain)
    goproxy = artifacts.go_modules(go, step)
    bundle = Artifacts(
        toolchain=toolchain,
        wheels=wheels,
        sources=artifacts.apps_bundle(),
        goproxy=goproxy,
        backend_group=bool(inventory.group("backend")),
        k6=artifacts.k6_binary(go, step),
    )
    step(
        f"artifacts ready: go{toolchain.version}, wheelhouse {wheels.digest}, "
        f"apps {bundle.sources.digest}, Go modules {bundle.goproxy.digest}"
    )

    state = State(
        build_inventory(inventory),
        Config(CONNECT_TIMEOUT=CONNECT_TIMEOUT, FAIL_PERCENT=0, PARALLEL=len(inventory.hosts)),
    )
    progress = _Progress()
    state.add_callback_handler(progress)
    try:
        connect_all(state)
        for host in state.inventory.get_active_hosts():
            before = {h: set(m.names) for h, m in state.op_meta.items()}
            add_deploy(state, site, host=host, artifacts=bundle)
            progress.remember_names(state, host, before)
        run_ops(state)
    except PyinfraError as exc:
        detail = "; ".join(progress.errors) or str(exc)
        raise LabFailure(f"pyinfra: {detail}") from None
    finally:
        disconnect_all(state)

    result = ProvisionResult(engine="pyinfra", seconds=round(time.monotonic() - started, 1))
    for host in state.inventory:
        result.hosts[host.name] = _host_result(state, host, progress)
    _summary(result)
    return result


def _host_result(state, host, progress: _Progress) -> HostResult:
    out = HostResult()
    for op_hash in state.get_op_order():
        op_data = state.ops.get(host, {}).get(op_hash)
        if op_data is None:
            continue
        meta = op_data.operation_meta
        if not meta.is_complete():
            continue
        out.ops += 1
        name = progress.name(host, op_hash)
        if meta.did_error():
            tail = " | ".join(meta.stderr_lines[-3:]) or " | ".join(meta.stdout_lines[-3:])
            out.failed.append(f"{name}: {tail}")
        elif meta.did_change():
            out.changed += 1
            out.changed_ops.append(name)
    return out


def _summary(result: ProvisionResult) -> None:
    for name, res in result.hosts.items():
        status = "[red]FAILED[/red]" if res.failed else "[green]ok[/green]"
        console.print(
            f"{name:16} {status}  {res.ops} operations, {res.changed} changed, {len(res.failed)} failed"
        )
        for failure in res.failed:
            console.print(f"  {failure}", markup=False)
    console.print(f"provisioned with pyinfra in {result.seconds:.1f} s")


class _Progress(BaseStateCallback):
    """pyinfra state callbacks -> one line per operation and host, with its outcome."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.names: dict[tuple[str, str], str] = {}

    def remember_names(self, state, host, before: dict[str, set[str]]) -> None:
        """In API mode pyinfra pairs the n-th operation of every host under one hash and merges
        their names; keep each host's own name by what its deploy added."""
        for op_hash in host.op_hash_order:
            names = set(state.get_op_meta(op_hash).names)
            own = (names - before.get(op_hash, set())) or names
            self.names[(host.name, op_hash)] = ", ".join(sorted(own))

    def name(self, host, op_hash: str) -> str:
        return self.names.get((host.name, op_hash), op_hash)

    def host_connect_error(self, state, host, error) -> None:
        self.errors.append(f"host {host.name}: {error}")

    def operation_end(self, state, op_hash: str) -> None:
        """After every host ran the operation (its results are final only now)."""
        for host in state.inventory:
            op_data = state.ops.get(host, {}).get(op_hash)
            if op_data is None or not op_data.operation_meta.is_complete():
                continue
            meta = op_data.operation_meta
            if meta.did_error():
                outcome = "[red]FAILED[/red]"
                self.errors.append(f"host {host.name}: {self.name(host, op_hash)} failed")
            elif meta.did_change():
                outcome = "[yellow]changed[/yellow]"
            else:
                outcome = "[green]ok[/green]"
            step(f"{host.name:16} {outcome}  {self.name(host, op_hash)}")
