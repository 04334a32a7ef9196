"""Provisioning engines, by the name `--engine` takes."""

from __future__ import annotations

from collections.abc import Callable

from webbench_lab.inventory import LabInventory
from webbench_lab.provision.result import ProvisionResult


def _pyinfra(inventory: LabInventory) -> ProvisionResult:
    from webbench_lab.provision.pyinfra_engine import provision

    return provision(inventory)


ENGINES: dict[str, Callable[[LabInventory], ProvisionResult]] = {"pyinfra": _pyinfra}
