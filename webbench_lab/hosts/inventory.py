"""The lab's hosts from any Ansible inventory (hosts/sources.py parses it), checked.

Both engines and every command read hosts through here, so a bad inventory is refused once, with
one line that names the source, the host or field, and the fix. The checks run on Ansible's parsed
result, so they are the same whatever the format.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webbench_lab.errors import UserError
from webbench_lab.hosts import sources as inventory_sources

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
    """The hosts of one or more inventory sources (-i given several times), in the order given."""

    sources: tuple[Path, ...]
    hosts: dict[str, LabHost]

    @property
    def label(self) -> str:
        """The sources as the user named them (`a.yml + b.ini`)."""
        return inventory_sources.label(self.sources)

    @property
    def name(self) -> str:
        """A short name for directories (audits/<UTC>-<name>/): the first source's."""
        return self.sources[0].stem or "inventory"

    def group(self, name: str) -> list[LabHost]:
        return [h for h in self.hosts.values() if name in h.groups]


def load_inventory(source: Path | Sequence[Path]) -> LabInventory:
    """Parse the source(s) with Ansible's InventoryManager and VariableManager, then check the
    lab's own fields on what Ansible made of them."""
    sources = (Path(source),) if isinstance(source, str | os.PathLike) else tuple(Path(s) for s in source)
    if not sources:
        raise UserError("no inventory source given; pass -i with an Ansible inventory")
    parsed = inventory_sources.parse(sources)
    manager = parsed.manager
    where = inventory_sources.label(sources)

    if not manager.hosts:
        raise UserError(
            f"{where}: Ansible found no host in it; list the hosts under the groups generator and server "
            "(see inventory/example-two-pc.yml)"
        )
    unknown = sorted(g for g in manager.groups if g not in (*KNOWN_GROUPS, "all", "ungrouped"))
    if unknown:
        raise UserError(
            f"{where}: unknown group '{unknown[0]}'; the lab knows the groups "
            f"{', '.join(KNOWN_GROUPS)}: rename or remove it"
        )
    for group in REQUIRED_GROUPS:
        if group not in manager.groups or not manager.groups[group].get_hosts():
            raise UserError(f"{where}: group '{group}' has no host; add a host to the group {group}")

    # Every host's fields first, then the files they name: a missing address is the first thing
    # to hear about, whichever host comes first.
    found = [(ahost, parsed.host_vars(ahost)) for ahost in manager.get_hosts()]
    for ahost, hvars in found:
        _check_fields(ahost.name, hvars, where)
    hosts: dict[str, LabHost] = {}
    for ahost, hvars in found:
        groups = tuple(sorted(g.name for g in ahost.get_groups() if g.name in KNOWN_GROUPS))
        # Relative files are relative to the source that defines the host, as Ansible's inventory_dir.
        base = Path(hvars.get("inventory_dir") or _first_dir(sources))
        hosts[ahost.name] = _lab_host(ahost.name, groups, hvars, where, base)
    return LabInventory(sources=sources, hosts=hosts)


def _first_dir(sources: tuple[Path, ...]) -> Path:
    first = sources[0]
    return first if first.is_dir() else first.parent


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


_MAGIC_PREFIXES = ("ansible_", "group_names", "groups", "inventory_", "omit", "playbook_dir")


def _is_magic(key: str) -> bool:
    return key.startswith(_MAGIC_PREFIXES) and not key.startswith(
        ("ansible_host", "ansible_port", "ansible_user", "ansible_become")
    )


def _resolve(value: Any, base: Path) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else (base / p).resolve()
