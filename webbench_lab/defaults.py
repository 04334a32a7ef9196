"""The shared desired-state variables (playbooks/group_vars/all.yml), read the same way by both engines."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from webbench_lab.paths import PYTHON_LOCK, SHARED_DEFAULTS


@cache
def shared_defaults() -> dict[str, Any]:
    return yaml.safe_load(SHARED_DEFAULTS.read_text())


def host_vars(inventory_vars: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by what the inventory says for this host."""
    return {**shared_defaults(), **inventory_vars}


def python_pins() -> list[str]:
    """The `name==version` lines of apps/python-stack.lock."""
    pins = []
    for raw in PYTHON_LOCK.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            pins.append(line)
    return pins
