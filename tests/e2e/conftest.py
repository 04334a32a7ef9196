"""The e2e tests share one real local lab per session: built fresh, provisioned once.

Files run in name order: test_1_lab (hosts and provisioning), test_2_apps (the systems under
test), test_3_bench (the runner), test_4_teardown (`lab up` again, `lab down`, cleaning a half-built lab).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from webbench_lab.inventory import LabInventory, load_inventory
from webbench_lab.paths import LOCAL_INVENTORY
from webbench_lab.remote import connect


def wbl(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "webbench_lab", *args], capture_output=True, text=True, timeout=timeout
    )
    sys.stderr.write(proc.stderr[-4000:])
    return proc


def sh(host, command: str, **kwargs) -> str:
    conn = connect(host)
    try:
        return conn.run(command, hide=True, in_stream=False, **kwargs).stdout
    finally:
        conn.close()


def by_group(inv: LabInventory, group: str):
    return inv.group(group)[0]


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the local lab needs root (run `sudo make test`)")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def lab() -> LabInventory:
    # The tests need fresh hosts: a lab left up is taken down first.
    assert wbl("lab", "down").returncode == 0
    proc = wbl("lab", "up")
    assert proc.returncode == 0, proc.stderr
    return load_inventory(LOCAL_INVENTORY)


@pytest.fixture(scope="session")
def provisioned(lab) -> dict:
    proc = wbl("provision", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def audits_root(tmp_path_factory):
    return tmp_path_factory.mktemp("audits")


@pytest.fixture(scope="session")
def pyinfra_audit(provisioned, audits_root) -> dict:
    """The audit of the freshly pyinfra-provisioned lab (taken in test_1, before any app runs)."""
    proc = wbl("audit", "--out", str(audits_root / "pyinfra"), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
