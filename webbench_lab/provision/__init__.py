"""Provisioning engines, by the name `--engine` takes. Both read the same inventory and prepare the
same artifacts, and can run in check mode (nothing executed: what would change)."""

from __future__ import annotations

from collections.abc import Callable

from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.provision.result import ProvisionResult


def _pyinfra(inventory: LabInventory, check: bool = False) -> ProvisionResult:
    from webbench_lab.provision.pyinfra_engine import provision

    return provision(inventory, dry=check)


def _ansible(inventory: LabInventory, check: bool = False) -> ProvisionResult:
    from webbench_lab.provision.ansible_engine import provision

    return provision(inventory, check=check)


ENGINES: dict[str, Callable[[LabInventory, bool], ProvisionResult]] = {
    "pyinfra": _pyinfra,
    "ansible": _ansible,
}
