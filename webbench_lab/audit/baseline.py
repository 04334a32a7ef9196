"""Which stored audit `audit --check` compares the hosts with, and the one line that says why.

A baseline must be of the same machines, not only of the same names: a rebuilt lab has the same
host names and addresses but new machines, and comparing them with the old lab's audit reports
whatever that lab had done (its builds, its running services) as drift. Every host generates its
SSH host keys when it is first set up, so equal host key fingerprints on every host are the test.
Without such an audit the hosts are compared with the desired state only (the engines' check
modes). `--baseline AUDIT_JSON` pins one explicitly, whatever machines it is of (the line says).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import LabInventory
from webbench_lab.yamlfile import display, load_json

DESIRED_ONLY = "compared with the desired state only (the engines' check modes)"
FIX = "give an audit.json written by `webbench-lab audit` or by a bench run"


@dataclass(frozen=True)
class Baseline:
    """The audit to compare with (None: the desired state only), where it is, and why it was chosen."""

    audit: dict[str, Any] | None
    path: Path | None
    line: str


def other_machines(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The hosts of `current` whose SSH host keys the baseline does not have (a host without keys
    on either side cannot be shown to be the same machine)."""
    old = baseline.get("hosts") or {}
    differ = []
    for name, host in sorted((current.get("hosts") or {}).items()):
        keys = host.get("ssh_host_keys") if isinstance(host, dict) else None
        before = old.get(name)
        if not keys or not isinstance(before, dict) or before.get("ssh_host_keys") != keys:
            differ.append(name)
    return differ


def stored(inventory: LabInventory, roots: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Every readable audit of these host names and addresses in `roots` (audits/, and the results
    of bench runs), newest first."""
    found: list[tuple[str, Path, dict[str, Any]]] = []
    for root in roots:
        for path in root.glob("*/audit.json"):
            try:
                data = json.loads(path.read_bytes().decode("utf-8"))
            except (OSError, ValueError):
                continue
            hosts = data.get("hosts") if isinstance(data, dict) else None
            if not isinstance(hosts, dict) or sorted(hosts) != sorted(inventory.hosts):
                continue
            if any(
                not isinstance(hosts[h.name], dict) or hosts[h.name].get("address") != h.address
                for h in inventory.hosts.values()
            ):
                continue
            found.append((str(data.get("collected_at", "")), path, data))
    found.sort(key=lambda item: (item[0], str(item[1])), reverse=True)
    return [(path, data) for _, path, data in found]


def choose(current: dict[str, Any], candidates: list[tuple[Path, dict[str, Any]]]) -> Baseline:
    """The newest candidate of the same machines as `current`; else none, saying why."""
    for path, data in candidates:
        if not other_machines(data, current):
            line = f"baseline: the last audit of these machines (same SSH host keys): {display(path)}"
            return Baseline(data, path, line)
    if not candidates:
        why = "no stored audit of these hosts (`webbench-lab audit` takes one)"
    else:
        path, data = candidates[0]
        hosts = ", ".join(other_machines(data, current))
        why = (
            f"the stored audits of these hosts are of other machines (other SSH host keys on {hosts}: "
            f"a rebuilt lab; newest: {display(path)})"
        )
    return Baseline(None, None, f"baseline: none: {why}; {DESIRED_ONLY}")


def pinned(current: dict[str, Any], path: Path, data: dict[str, Any]) -> Baseline:
    """The audit given with --baseline, used whatever machines it is of; the line says which."""
    differ = other_machines(data, current)
    note = f"; other machines: other SSH host keys on {', '.join(differ)}" if differ else ""
    return Baseline(data, path, f"baseline: {display(path)} (given with --baseline{note})")


def load(path: Path) -> tuple[Path, dict[str, Any]]:
    """The audit at `path` (or in the directory `path`: its audit.json), checked before anything runs:
    a file that cannot be read, is not UTF-8 JSON or holds no hosts is one line naming it, exit 2."""
    path = Path(path)
    if path.is_dir():
        path = path / "audit.json"
    try:
        data = load_json(path, FIX, FIX)
    except UserError as exc:
        raise UserError(f"--baseline {exc}") from None
    hosts = data.get("hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, dict) or not hosts or not all(isinstance(h, dict) for h in hosts.values()):
        what = 'not a lab audit (no "hosts" object of host audits)'
        raise UserError(f"--baseline {display(path)}: {what}; {FIX}")
    return path, data
