"""Load the lab's one inventory format (Ansible YAML) through Ansible's own parser, and check it.

Both engines and every command read hosts through here, so a bad inventory is refused once, with
one line that names the file, the host or field, and the fix.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webbench_lab.errors import UserError
from webbench_lab.yamlfile import display, load_mapping

# Ansible reads its configuration when first imported: only the YAML inventory plugin, and an
# unparsable source is an error instead of a warning and an empty inventory.
os.environ.setdefault("ANSIBLE_INVENTORY_ENABLED", "yaml")
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")

KNOWN_GROUPS = ("generator", "server", "backend")
REQUIRED_GROUPS = ("generator", "server")


@dataclass(frozen=True)
class LabHost:
    """One machine of the lab as every client needs it: where to SSH and where benchmarks go."""

    name: str
    groups: tuple[str, ...]
    address: str
    port: int
    user: str
    key_file: Path | None
    known_hosts: Path
    bench_address: str
    cpus: str | None
    become: bool
    cpu_limit: float | None = None  # lab_cpu_limit: the host's CPU time in cores, where limited
    vars: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def endpoint(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass(frozen=True)
class LabInventory:
    path: Path
    hosts: dict[str, LabHost]

    def group(self, name: str) -> list[LabHost]:
        return [h for h in self.hosts.values() if name in h.groups]


def load_inventory(path: Path) -> LabInventory:
    """Parse `path` with Ansible's InventoryManager and VariableManager, then validate it."""
    path = Path(path)
    where = display(path)
    if not path.is_file():
        raise UserError(
            f"{where}: no such inventory file; pass -i with the path of an Ansible YAML inventory "
            "(see inventory/example-two-pc.yml), or run `webbench-lab lab up` as root for the local lab"
        )
    _check_yaml(path, where)

    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(path)])
    except AnsibleError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{where}: not a valid Ansible YAML inventory: {first}") from None
    variables = VariableManager(loader=loader, inventory=manager)

    unknown = sorted(g for g in manager.groups if g not in (*KNOWN_GROUPS, "all", "ungrouped"))
    if unknown:
        raise UserError(
            f"{where}: unknown group '{unknown[0]}'; the lab knows the groups "
            f"{', '.join(KNOWN_GROUPS)}: rename or remove it"
        )
    for group in REQUIRED_GROUPS:
        if group not in manager.groups or not manager.groups[group].get_hosts():
            raise UserError(
                f"{where}: group '{group}' has no host; add a host under all.children.{group}.hosts"
            )

    # Every host's fields first, then the files they name: a missing address is the first thing
    # to hear about, whichever host comes first.
    found = [(ahost, variables.get_vars(host=ahost, include_hostvars=False)) for ahost in manager.get_hosts()]
    for ahost, hvars in found:
        _check_fields(ahost.name, hvars, where)
    hosts: dict[str, LabHost] = {}
    for ahost, hvars in found:
        groups = tuple(sorted(g.name for g in ahost.get_groups() if g.name in KNOWN_GROUPS))
        hosts[ahost.name] = _lab_host(ahost.name, groups, hvars, where, path.parent)
    return LabInventory(path=path, hosts=hosts)


def _check_fields(name: str, hvars: dict[str, Any], where: str) -> None:
    def fail(msg: str) -> UserError:
        return UserError(f"{where}: host '{name}': {msg}")

    if not hvars.get("ansible_host"):
        raise fail("no address; add `ansible_host: <IP or DNS name>` under the host")
    port_raw = hvars.get("ansible_port", 22)
    try:
        port = int(port_raw)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise fail(f"ansible_port '{port_raw}' is not a TCP port; give a number from 1 to 65535")
    bench = str(hvars.get("lab_bench_address") or "")
    if not bench:
        raise fail(
            "no benchmark address; add `lab_bench_address: <IP on the benchmark link>` "
            "(it may equal ansible_host when there is no separate link)"
        )
    try:
        ipaddress.ip_address(bench)
    except ValueError:
        raise fail(f"lab_bench_address '{bench}' is not an IP address") from None


def _lab_host(name: str, groups: tuple[str, ...], hvars: dict[str, Any], where: str, base: Path) -> LabHost:
    def fail(msg: str) -> UserError:
        return UserError(f"{where}: host '{name}': {msg}")

    key_file = None
    if hvars.get("ansible_ssh_private_key_file"):
        key_file = _resolve(hvars["ansible_ssh_private_key_file"], base)
        if not key_file.is_file():
            raise fail(
                f"ansible_ssh_private_key_file {key_file} does not exist; "
                "point it at the private key that logs in to this host"
            )
    known_hosts = _resolve(hvars.get("lab_known_hosts_file") or "~/.ssh/known_hosts", base)
    if not known_hosts.is_file():
        raise fail(
            f"known_hosts file {known_hosts} does not exist; set lab_known_hosts_file to a file "
            "that holds this host's key (strict host-key checking is always on)"
        )

    user = str(hvars.get("ansible_user") or "root")
    cpus = hvars.get("lab_cpus")
    limit = hvars.get("lab_cpu_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0):
        raise fail(f"lab_cpu_limit {limit!r}: give the host's CPU time in cores (0.5, 1), or leave it out")
    become = bool(hvars.get("ansible_become", user != "root"))
    keep = {k: v for k, v in hvars.items() if not _is_magic(k)}
    return LabHost(
        name=name,
        groups=groups,
        address=str(hvars["ansible_host"]),
        port=int(hvars.get("ansible_port", 22)),
        user=user,
        key_file=key_file,
        known_hosts=known_hosts,
        bench_address=str(hvars["lab_bench_address"]),
        cpus=None if cpus is None else str(cpus),
        become=become,
        cpu_limit=None if limit is None else float(limit),
        vars=keep,
    )


def _check_yaml(path: Path, where: str) -> None:
    """Ansible's own error for broken YAML is long; say where it breaks in one line."""
    not_inventory = "not an Ansible YAML inventory (no top-level 'all:'); see inventory/example-two-pc.yml"
    if "all" not in load_mapping(path, not_inventory):
        raise UserError(f"{where}: {not_inventory}")


_MAGIC_PREFIXES = ("ansible_", "group_names", "groups", "inventory_", "omit", "playbook_dir")


def _is_magic(key: str) -> bool:
    return key.startswith(_MAGIC_PREFIXES) and not key.startswith(
        ("ansible_host", "ansible_port", "ansible_user", "ansible_become")
    )


def _resolve(value: Any, base: Path) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else (base / p).resolve()
