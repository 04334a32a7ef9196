"""Provision the lab with pyinfra's Python API over SSH, from the lab's Ansible inventory.

pyinfra 3 has no Ansible inventory connector, so its Inventory is built from our parsed one; every
host gets strict host-key checking against the inventory's known_hosts.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import time
from typing import Any

import gevent
from pyinfra.api import BaseStateCallback
from pyinfra.context import ctx_state

from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.hosts.inventory import LabHost, LabInventory
from webbench_lab.hosts.ssh import CONNECT_TIMEOUT
from webbench_lab.provision.prepare import preflight, prepare
from webbench_lab.provision.result import HostResult, ProvisionResult, print_summary
from webbench_lab.ui import step

# The module, not the `operation` decorator that pyinfra.api exports under the same name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")


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
    groups: dict[str, tuple[list[str], dict[str, Any]]] = {
        group: ([h.name for h in inventory.group(group)], {})
        for group in ("generator", "server", "backend")
        if inventory.group(group)
    }
    return Inventory((names, {}), **groups)


def provision(inventory: LabInventory, dry: bool = False) -> ProvisionResult:
    """Run the deploys; with `dry`, only let pyinfra work out what each operation would change
    (its facts are read, nothing is executed) and report those operations as changed."""
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops

    from webbench_lab.provision.deploys.site import site

    started = time.monotonic()
    logging.getLogger("pyinfra").setLevel(logging.CRITICAL)
    preflight(inventory)
    bundle = prepare(inventory)

    state = State(
        build_inventory(inventory),
        Config(CONNECT_TIMEOUT=CONNECT_TIMEOUT, FAIL_PERCENT=0, PARALLEL=len(inventory.hosts)),
    )
    progress = _OperationLog()
    state.add_callback_handler(progress)
    try:
        connect_all(state)
        # Operations are generated (and their facts read) for every host at once, one greenlet
        # each, as pyinfra's own CLI prepares hosts.
        hosts = list(state.inventory.get_active_hosts())
        # The state context is process-wide (only the host is greenlet-local): hold it for the
        # whole phase, or the first greenlet to finish would unset it under the other.
        with ctx_state.use(state), progress.capture_names():
            greenlets = [gevent.spawn(add_deploy, state, site, host=h, artifacts=bundle) for h in hosts]
            gevent.joinall(greenlets, raise_error=True)
        for host in hosts:
            progress.remember_names(host)
        if not dry:
            run_ops(state)
    except PyinfraError as exc:
        detail = "; ".join(progress.errors) or str(exc)
        raise LabFailure(f"pyinfra: {detail}") from None
    finally:
        disconnect_all(state)

    result = ProvisionResult(engine="pyinfra", seconds=round(time.monotonic() - started, 1), check=dry)
    for host in state.inventory:
        collect = _dry_result if dry else _host_result
        result.hosts[host.name] = collect(state, host, progress)
    if not dry:
        print_summary(result)
    return result


def _dry_result(state, host, progress: _OperationLog) -> HostResult:
    """Operations pyinfra found would change (decided when the deploy was added: facts only)."""
    out = HostResult()
    for op_hash in host.op_hash_order:
        out.ops += 1
        if state.ops[host][op_hash].operation_meta._maybe_is_change:
            out.changed += 1
            out.changed_ops.append(progress.name(host, op_hash))
            out.details.append(
                {"what": progress.name(host, op_hash), "expected": "as provisioned", "found": "would change"}
            )
    return out


def _host_result(state, host, progress: _OperationLog) -> HostResult:
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


class _OperationLog(BaseStateCallback):
    """pyinfra state callbacks -> one line per operation and host, with its outcome."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.names: dict[tuple[str, str], str] = {}
        self._made: dict[str, list[str]] = {}

    @contextlib.contextmanager
    def capture_names(self):
        """In API mode pyinfra pairs the n-th operation of every host under one hash and merges
        their names, so note each host's own operation names, in order, as they are made."""
        original = pyinfra_operation.generate_operation_name

        def recording(func, host, kwargs, global_arguments):
            names, add_args = original(func, host, kwargs, global_arguments)
            self._made.setdefault(host.name, []).append(", ".join(sorted(names)))
            return names, add_args

        pyinfra_operation.generate_operation_name = recording
        try:
            yield
        finally:
            pyinfra_operation.generate_operation_name = original

    def remember_names(self, host) -> None:
        """Every operation call adds exactly one hash to the host's order, in call order."""
        for op_hash, name in zip(host.op_hash_order, self._made.get(host.name, []), strict=False):
            self.names[(host.name, op_hash)] = name

    def name(self, host, op_hash: str) -> str:
        return self.names.get((host.name, op_hash), op_hash)

    # pyinfra declares its callbacks as static methods; these keep what they see on the instance.
    def host_connect_error(self, state, host, error) -> None:  # type: ignore[override]
        self.errors.append(f"host {host.name}: {error}")

    def operation_end(self, state, op_hash: str) -> None:  # type: ignore[override]  # as above
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
