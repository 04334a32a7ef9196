"""The lab's desired-state variables: every role's defaults/main.yml, read the same way by both engines.

Ansible gives role defaults the lowest precedence, so any inventory group or host var overrides
them; pyinfra gets the same merge here. A variable defined by two roles is refused. A default may
name another variable (`apps_root: "{{ common_lab_root }}/apps"`): Ansible resolves it when it is
used, and host_vars resolves it here the same way, after the inventory's overrides.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2

from webbench_lab.errors import UserError
from webbench_lab.paths import PYTHON_LOCK, ROLES
from webbench_lab.yamlfile import display, load_mapping


@cache
def raw_defaults() -> dict[str, Any]:
    """Every role's defaults as written (templated values unresolved)."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for path in sorted(ROLES.glob("*/defaults/main.yml")):
        role = path.parent.parent.name
        for key, value in load_mapping(path).items():
            if key in merged:
                raise UserError(f"{display(path)}: '{key}' is already defined by role {owner[key]}; keep one")
            merged[key], owner[key] = value, role
    return merged


def shared_defaults() -> dict[str, Any]:
    """The defaults with every templated value resolved (no inventory)."""
    return host_vars({})


def host_vars(inventory_vars: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by what the inventory says for this host, templated values resolved."""
    return resolve({**raw_defaults(), **inventory_vars})


def resolve(variables: dict[str, Any]) -> dict[str, Any]:
    """Render every string that holds a Jinja2 expression against the variables themselves, as
    often as it takes (a default may name one that names another)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    current = dict(variables)
    for _ in range(10):
        changed = False
        for key, value in current.items():
            new = _render(env, value, current, key)
            if new != value:
                current[key], changed = new, True
        if not changed:
            return current
    raise UserError("role defaults: templated values refer to each other in a loop")


def _render(env: jinja2.Environment, value: Any, variables: dict[str, Any], key: str) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        try:
            return env.from_string(value).render(**variables)
        except jinja2.UndefinedError as exc:
            raise UserError(f"variable '{key}': {value!r} names an undefined variable ({exc})") from None
    if isinstance(value, list):
        return [_render(env, v, variables, key) for v in value]
    if isinstance(value, dict):
        return {k: _render(env, v, variables, key) for k, v in value.items()}
    return value


def python_pins() -> list[str]:
    """The `name==version` lines of apps/python-stack.lock."""
    pins = []
    for raw in PYTHON_LOCK.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            pins.append(line)
    return pins
