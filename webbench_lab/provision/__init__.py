"""Provisioning engines, by the name `--engine` takes. Both take the same inventory and the same
prepared artifacts, and can run in check mode (nothing executed: what would change)."""

from __future__ import annotations

from typing import Protocol

from webbench_lab.deploys.site import Artifacts
from webbench_lab.inventory import LabInventory
from webbench_lab.provision.result import ProvisionResult


class Engine(Protocol):
    def __call__(
        self, inventory: LabInventory, bundle: Artifacts | None = None, check: bool = False
    ) -> ProvisionResult: ...


def _pyinfra(
    inventory: LabInventory, bundle: Artifacts | None = None, check: bool = False
) -> ProvisionResult:
    from webbench_lab.provision.pyinfra_engine import provision

    return provision(inventory, bundle, dry=check)


def _ansible(
    inventory: LabInventory, bundle: Artifacts | None = None, check: bool = False
) -> ProvisionResult:
    from webbench_lab.provision.ansible_engine import provision

    return provision(inventory, bundle, check=check)


ENGINES: dict[str, Engine] = {"pyinfra": _pyinfra, "ansible": _ansible}
