"""The lab's desired-state variables: every role's defaults/main.yml, read the same way by both engines.

Ansible gives role defaults the lowest precedence, so any inventory group or host var overrides
them; pyinfra gets the same merge here. A variable defined by two roles is refused.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from webbench_lab.errors import UserError
from webbench_lab.paths import PYTHON_LOCK, ROLES
from webbench_lab.yamlfile import display, load_mapping


@cache
def shared_defaults() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        role = path.parent.parent.name
        for key, value in load_mapping(path).items():
            if key in merged:
                raise UserError(f"{display(path)}: '{key}' is already defined by role {owner[key]}; keep one")
            merged[key], owner[key] = value, role
    return merged


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
