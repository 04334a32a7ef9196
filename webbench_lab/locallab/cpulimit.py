"""Limit a local host's CPU time with the cgroup v1 cpu controller (CFS bandwidth), so that the
local server can be slower than its generator, as Lab A's netbook was beside its dual Xeon.

A separate hierarchy from the cpuset: the host's PID 1 joins both before it starts anything, and
every process of the host inherits both. The period is short (10 ms): with the default 100 ms, a
throttled server stalls for up to 100 ms at a time, which shows as latency spikes, not as a slower
CPU (../shared/PITFALLS.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from webbench_lab.errors import UserError
from webbench_lab.locallab import cpusets

if TYPE_CHECKING:
    from webbench_lab.hosts.inventory import LabHost

CPU_ROOT = Path("/sys/fs/cgroup/cpu")
LAB_GROUP = CPU_ROOT / "webbench-lab"
PERIOD_US = 10_000
MIN_QUOTA_US = 1000  # the kernel refuses a quota below 1 ms


def available() -> bool:
    return (CPU_ROOT / "cpu.cfs_quota_us").is_file()


def quota_us(cores: float) -> int:
    """The CFS quota per PERIOD_US for `cores` CPUs' worth of time (0.5: half of one core)."""
    return max(MIN_QUOTA_US, round(cores * PERIOD_US))


def check(cores: float | None, cpus: int) -> float | None:
    """A --server-cpu value: None or 0 for no limit; else more than 0 and at most the host's CPUs."""
    if not cores:
        return None
    lowest = MIN_QUOTA_US / PERIOD_US
    if not lowest <= cores <= cpus:
        raise UserError(
            f"--server-cpu {cores:g}: give the server's CPU time in cores, from {lowest:g} to "
            f"{cpus} (the CPUs it has), or 0 for no limit"
        )
    return cores


def create(name: str, cores: float) -> Path:
    """webbench-lab/<name> with `cores` of CPU time per period."""
    if not available():
        raise UserError(
            f"--server-cpu: this machine has no cgroup v1 cpu controller at {CPU_ROOT}; "
            "run `webbench-lab lab up --server-cpu 0` for a lab without a CPU limit"
        )
    LAB_GROUP.mkdir(exist_ok=True)
    group = LAB_GROUP / name
    group.mkdir(exist_ok=True)
    (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (group / "cpu.cfs_quota_us").write_text(str(quota_us(cores)))
    return group


def set_quota(name: str, cores: float | None) -> bool:
    """Set a running host's CPU time (None: no limit) where its group exists and we may write it
    (as root); False otherwise. Only the control machine of a local lab can: the hosts see their
    group read-only."""
    group = LAB_GROUP / name / "cpu.cfs_quota_us"
    try:
        group.write_text(str(-1 if cores is None else quota_us(cores)))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def lifted(name: str, cores: float) -> Iterator[bool]:
    """The host without its CPU limit for the block (True when it could be lifted), then with it
    again whatever happens; a driver that dies inside leaves it lifted, and the next run's
    `restore` sets it back."""
    done = set_quota(name, None)
    try:
        yield done
    finally:
        if done:
            set_quota(name, cores)


def local_group(host: LabHost) -> tuple[str, float] | None:
    """A local lab host with a CPU limit: its group's name (its inventory name is lab-<name>,
    locallab/topology.py) and its cores; None for a real machine or a host without a limit."""
    if not host.vars.get("lab_local") or host.cpu_limit is None:
        return None
    return group_name(host), host.cpu_limit


def group_name(host: LabHost) -> str:
    """A local lab host's cgroup name (its inventory name is lab-<name>, locallab/topology.py)."""
    return host.name.removeprefix("lab-")


@contextlib.contextmanager
def unlimited(host: LabHost) -> Iterator[bool]:
    """`host` without its CPU limit for the block where it is a local lab host with one (True
    then), as it is otherwise: what is not measured (a ceiling, a Go build) need not be slowed."""
    local = local_group(host)
    if local is None:
        yield False
        return
    with lifted(*local) as done:
        yield done


@contextlib.contextmanager
def whole_machine(host: LabHost) -> Iterator[bool]:
    """`host` on every CPU of the lab and without its CPU limit for the block, where it is a local
    lab host (True then): a Go build is not measured, and on the server's one pinned core a first
    build of every system took 151 s. Its own CPUs (and limit) again after it, whatever happens;
    a driver that dies inside leaves them widened, and the next run's `restore` narrows them."""
    if not host.vars.get("lab_local") or not host.cpus:
        yield False
        return
    name = group_name(host)
    widened = cpusets.set_cpus(name, None)
    try:
        with unlimited(host):
            yield widened
    finally:
        if widened:
            cpusets.set_cpus(name, host.cpus)


def restore(host: LabHost) -> None:
    """A local lab host's own CPUs and CPU limit, as the inventory gives them (a driver that died
    while a ceiling or a build ran left them lifted)."""
    if not host.vars.get("lab_local"):
        return
    if host.cpus:
        cpusets.set_cpus(group_name(host), host.cpus)
    local = local_group(host)
    if local is not None:
        set_quota(*local)
