"""Drift between two lab audits: what changed on the hosts' setup since a baseline (the last audit
of the same machines, or the lab the other provisioning engine built), one Drift per differing leaf.
Runtime state (audit/runtime.py: built binaries, listening ports) is not compared.

An audit (see agent/auditor.py) is {"hosts": {hostname: host audit}, ...}. Lists with a natural key
are compared entry by entry (the jail by path, users by name),
pip freeze and group lists as sets of lines, everything else value by value. Values are compared
whole; only what a Drift shows is shortened.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from webbench_lab.audit import runtime

# Keys that differ between two audits of the same lab, ignored when audits are compared.
VOLATILE: dict[str, frozenset[str]] = {
    # Top level: when, from which inventory and checkout, and by which engine the audit was taken.
    "audit": frozenset(
        {"collected_at", "started_at", "finished_at", "seconds", "inventory", "lab_commit", "engine"}
    ),
    # Per host: the collector's clock, and the SSH host keys, which every fresh host generates anew.
    "host": frozenset({"collected_at", "collector_seconds", "ssh_host_keys"}),
}

# List-valued sections compared entry by entry, by their natural key.
KEYED_LISTS: dict[str, tuple[str, ...]] = {
    "jail": ("path",),
    "users": ("name",),
}
# List-valued sections whose order means nothing: compared as sets of lines.
SET_LISTS = frozenset({"python.freeze", "groups_of_app_user"})

ABSENT = "absent"
SHOWN = 80  # characters of a value a Drift shows


@dataclass(frozen=True)
class Drift:
    host: str
    source: str  # what the host was compared with ("last audit", "pyinfra lab", ...)
    what: str  # dotted path of the leaf: "packages.nginx", "jail.gin/gin.mode"
    expected: str
    found: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def comparable(audit: dict[str, Any], rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of the setup alone: without the VOLATILE keys and without runtime state (each
    host split by its rule in `rules`, else by its own): two audits of equal labs compare equal."""
    out = copy.deepcopy(audit)
    for key in VOLATILE["audit"]:
        out.pop(key, None)
    hosts = out.get("hosts") or {}
    for name, host in hosts.items():
        if isinstance(host, dict):
            for key in VOLATILE["host"]:
                host.pop(key, None)
            hosts[name], _ = runtime.split(host, (rules or {}).get(name))
    return out


def compare(baseline: dict[str, Any], current: dict[str, Any], source: str = "last audit") -> list[Drift]:
    """Every difference between the setup of the hosts of two audits (volatile keys and runtime state
    ignored), in a stable order. Both are split by the current audit's rules: one rule for both."""
    rules = {
        name: host.get(runtime.RULE)
        for name, host in (current.get("hosts") or {}).items()
        if isinstance(host, dict) and host.get(runtime.RULE)
    }
    old = comparable(baseline, rules).get("hosts") or {}
    new = comparable(current, rules).get("hosts") or {}
    drifts = []
    for host in sorted(set(old) | set(new)):
        if host not in new:
            drifts.append(Drift(host, source, "host", "present", ABSENT))
        elif host not in old:
            drifts.append(Drift(host, source, "host", ABSENT, "present"))
        else:
            drifts += [Drift(host, source, *item) for item in _diff("", old[host], new[host])]
    return drifts


# --- the walk ----------------------------------------------------------------------------------------


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _diff(path: str, old: Any, new: Any) -> Iterator[tuple[str, str, str]]:
    """(what, expected, found) for each differing leaf below `path`."""
    if old == new:
        return
    if isinstance(old, list) and isinstance(new, list):
        if path in KEYED_LISTS:
            old, new = _keyed(old, KEYED_LISTS[path]), _keyed(new, KEYED_LISTS[path])
        elif path in SET_LISTS:
            yield from _set_diff(path, old, new)
            return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            what = _join(path, key)
            if key not in new:
                yield what, _show(old[key]), ABSENT
            elif key not in old:
                yield what, ABSENT, _show(new[key])
            else:
                yield from _diff(what, old[key], new[key])
        return
    yield (path, *_show_pair(old, new))


def _natural_key(item: Any, fields: tuple[str, ...]) -> str:
    if not isinstance(item, dict) or any(f not in item for f in fields):
        return json.dumps(item, sort_keys=True)
    return "/".join(str(item[f]) for f in fields)


def _keyed(items: list[Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """A list of records as {natural key: the record without its key fields}."""
    keyed: dict[str, Any] = {}
    for item in items:
        key = base = _natural_key(item, fields)
        n = 1
        while key in keyed:  # two records with one key: keep both
            n += 1
            key = f"{base} ({n})"
        keyed[key] = {k: v for k, v in item.items() if k not in fields} if isinstance(item, dict) else item
    return keyed


def _set_diff(path: str, old: list[Any], new: list[Any]) -> Iterator[tuple[str, str, str]]:
    old_lines, new_lines = {str(x) for x in old}, {str(x) for x in new}
    for line in sorted(old_lines - new_lines):
        yield f"{path}: {line} missing", _cut(line), ABSENT
    for line in sorted(new_lines - old_lines):
        yield f"{path}: {line} added", ABSENT, _cut(line)


# --- showing values ----------------------------------------------------------------------------------


def _flat(value: Any) -> str:
    """One line for a value: text with its whitespace collapsed, records as `key=value` pairs."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return " ".join(f"{k}={_flat(v)}" for k, v in sorted(value.items())) or "{}"
    if isinstance(value, list):
        if value and all(isinstance(x, dict) for x in value):
            return f"[{len(value)} entries]"
        return json.dumps(value, separators=(",", ":"))
    return json.dumps(value)


def _cut(text: str, start: int = 0) -> str:
    """SHOWN characters of text from `start`, with … where something was left out."""
    head = "…" if start > 0 else ""
    part = text[start : start + SHOWN - len(head)]
    if start + len(part) < len(text):
        part = part[:-1] + "…"
    return head + part


def _show(value: Any) -> str:
    return _cut(_flat(value))


def _show_pair(old: Any, new: Any) -> tuple[str, str]:
    """Both values, shortened around their first difference (nginx -V differs far into its text)."""
    a, b = _flat(old), _flat(new)
    if max(len(a), len(b)) <= SHOWN:
        return a, b
    first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, first - 20) if first > SHOWN - 20 else 0
    return _cut(a, start), _cut(b, start)
