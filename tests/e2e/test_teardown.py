"""Last, on whatever lab is up: `lab up` again is harmless, `lab down` leaves nothing, half-built
labs go."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import UP_ARGS, wbl
from webbench_lab.locallab import cpusets, keeper, topology
from webbench_lab.paths import LOCAL_INVENTORY, cache_dir, run_dir

pytestmark = pytest.mark.e2e


def test_lab_up_on_a_running_lab_is_harmless(any_lab, labs):
    before = {ns: _pids(ns) for ns in _lab_namespaces()}
    inventory_text = LOCAL_INVENTORY.read_text()
    proc = wbl("lab", "up", *UP_ARGS.get(labs.engine or "", ()))  # the options it was made with
    assert proc.returncode == 0 and "already up" in proc.stderr
    assert {ns: _pids(ns) for ns in _lab_namespaces()} == before
    assert LOCAL_INVENTORY.read_text() == inventory_text


def test_lab_down_leaves_nothing_but_the_caches(any_lab, labs):
    proc = wbl("lab", "down")
    labs.gone()
    assert proc.returncode == 0, proc.stderr
    assert_no_lab_left()
    assert (cache_dir() / "rootfs").is_dir(), "the rootfs cache survives lab down"


def test_lab_down_cleans_a_half_built_lab(no_lab):
    """What a `lab up` that died half way leaves: a state file, a namespace, the bridge."""
    topo = topology.plan()
    topology.save(topo, "starting")
    subprocess.run(["ip", "netns", "add", topo.hosts[1].netns], check=True)
    subprocess.run(["ip", "link", "add", topology.BRIDGE, "type", "bridge"], check=True)
    proc = wbl("lab", "down")
    assert proc.returncode == 0, proc.stderr
    assert_no_lab_left()


def _lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.startswith("wbl-"))


def _pids(ns: str) -> list[int]:
    """The host's long-lived processes (its init and sshd listener), not passing SSH sessions."""
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    keep = []
    for pid in out.split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"hostinit.py" in cmdline or b"sshd -D" in cmdline:
            keep.append(int(pid))
    return sorted(keep)


def assert_no_lab_left() -> None:
    assert _lab_namespaces() == []
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert "wbl-" not in links
    mounts = Path("/proc/mounts").read_text()
    assert str(run_dir()) not in mounts
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "hostinit.py" not in procs
    assert keeper.pids() == {} and not keeper.group().exists()
    assert str(run_dir()) not in procs  # apt-cacher-ng runs with the lab's config dir
    assert not cpusets.LAB_CPUSET.exists()
    assert not LOCAL_INVENTORY.exists()
