"""Pin each local host to its own CPUs with a cgroup v1 cpuset (the machine has no cgroup v2), and
say which hosts share CPUs where there are too few for one each (`lab up`, a run's manifest)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from webbench_lab.agent.appctl import cpu_list

CPUSET_ROOT = Path("/sys/fs/cgroup/cpuset")
LAB_CPUSET = CPUSET_ROOT / "webbench-lab"


def available() -> bool:
    return (CPUSET_ROOT / "cpuset.cpus").is_file()


def create(name: str, cpus: str) -> Path:
    """Make webbench-lab/<name> with `cpus`; the parent needs cpus and mems before a child can."""
    LAB_CPUSET.mkdir(exist_ok=True)
    for fname in ("cpuset.cpus", "cpuset.mems"):
        if not (LAB_CPUSET / fname).read_text().strip():
            (LAB_CPUSET / fname).write_text((CPUSET_ROOT / fname).read_text())
    group = LAB_CPUSET / name
    group.mkdir(exist_ok=True)
    (group / "cpuset.mems").write_text((LAB_CPUSET / "cpuset.mems").read_text())
    (group / "cpuset.cpus").write_text(cpus)
    return group


def set_cpus(name: str, cpus: str | None) -> bool:
    """Set a running host's CPUs (None: every CPU of the lab) where its group exists and we may
    write it (as root, on the control machine); False otherwise."""
    try:
        value = cpus if cpus is not None else (LAB_CPUSET / "cpuset.cpus").read_text().strip()
        (LAB_CPUSET / name / "cpuset.cpus").write_text(value)
    except OSError:
        return False
    return True


def remove_all(timeout: float = 5.0, top: Path = LAB_CPUSET) -> None:
    """rmdir the lab's groups under `top` (its cpusets, or its cpu limits) once their processes
    are gone."""
    if not top.is_dir():
        return
    deadline = time.monotonic() + timeout
    for group in [p for p in top.iterdir() if p.is_dir()]:
        rmdir_once_free(group, deadline)
    with contextlib.suppress(OSError):
        top.rmdir()


def rmdir_once_free(group: Path, deadline: float) -> None:
    """rmdir a cgroup, retried until `deadline` (then the error is raised): a killed task leaves
    its group a moment after /proc stops showing it, and rmdir fails busy until then."""
    while True:
        try:
            group.rmdir()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def cpus_of(text: str | None) -> set[int]:
    """A CPU list ("0-1,3") as a set; empty when it is unknown or not a CPU list."""
    try:
        return cpu_list(text) if text else set()
    except ValueError:
        return set()


def shared_cpus(cpusets: Mapping[str, str | None]) -> list[dict[str, Any]]:
    """Each set of CPUs that two or more hosts are pinned to, with those hosts, in the mapping's
    order (`[{"cpus": "0", "hosts": [...]}]`); empty when no host shares a CPU or none is known."""
    users: dict[int, list[str]] = {}
    for name, text in cpusets.items():
        for cpu in sorted(cpus_of(text)):
            users.setdefault(cpu, []).append(name)
    by_hosts: dict[tuple[str, ...], list[int]] = {}
    for cpu, names in sorted(users.items()):
        if len(names) > 1:
            by_hosts.setdefault(tuple(names), []).append(cpu)
    return [{"cpus": ",".join(map(str, cpus)), "hosts": list(hosts)} for hosts, cpus in by_hosts.items()]
