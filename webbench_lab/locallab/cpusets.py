"""Pin each local host to its own CPUs with a cgroup v1 cpuset (the machine has no cgroup v2)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

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


def remove_all(timeout: float = 5.0, top: Path = LAB_CPUSET) -> None:
    """rmdir the lab's groups under `top` (its cpusets, or its cpu limits) once their processes
    are gone."""
    if not top.is_dir():
        return
    deadline = time.monotonic() + timeout
    for group in [p for p in top.iterdir() if p.is_dir()]:
        while True:
            try:
                group.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    with contextlib.suppress(OSError):
        top.rmdir()
