"""The e2e tests run on a real local lab, built by fixtures rather than by file order, so any one
file or test runs alone (`pytest tests/e2e/test_bench.py -k quick` builds what it needs):

- `lab` / `provisioned`: a fresh lab provisioned with pyinfra (its first provision and the audit
  taken right after it are kept for the tests that look at them);
- `ansible_lab` (test_ansible.py): a second fresh lab, provisioned with Ansible;
- `earlier_run`: a QUICK bench run on the lab up when first asked for (the Ansible lab);
- `login_lab` (test_login_user.py): a fresh bare lab whose hosts look like real machines
  (`lab up --login-user bench --ssh-port 2222`: sudo, root refused); its tests provision it, and
  it is the lab rebuilt after `earlier_run`, whose audit its drift check is compared with;
- `any_lab` (test_teardown.py): whatever lab is up, or a bare one, for the tests that take it down;
- `gens_lab` (test_generators.py): a fresh lab of two generators and a backend host on a switch
  (`lab up --generators 2 --backend`), provisioned with pyinfra; its last test takes it down.

One lab runs at a time, so a session orders its tests to build each lab once: the pyinfra lab's
tests first (those marked fresh_lab before any app runs), then the Ansible lab's, then the login
lab's, then teardown's, then the generators lab's, last, so that no other lab is built after it
(see pytest_collection_modifyitems).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import timing
from webbench_lab.hosts.inventory import LabInventory, load_inventory
from webbench_lab.hosts.ssh import connect
from webbench_lab.paths import LOCAL_INVENTORY


def wbl(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run the real CLI, as a user would (its time is kept for benchmarks/make_test_times.py)."""
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "webbench_lab", *args], capture_output=True, text=True, timeout=timeout
    )
    timing.record_step(args, time.monotonic() - start, proc.returncode)
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


NGINX_SITE = "/etc/webbench/nginx/webpy-nginx-L1.conf"  # a provisioned file the drift tests edit
LOGIN_USER, LOGIN_PORT = "bench", 2222
# `lab up` arguments of each kind of lab (the others are root on port 22, one generator).
UP_ARGS = {
    "login": ("--login-user", LOGIN_USER, "--ssh-port", str(LOGIN_PORT)),
    "gens": ("--generators", "2", "--backend"),
}
# The engine that provisions each kind of lab, where it is not the lab's own name.
ENGINE_OF = {"gens": "pyinfra"}


class Labs:
    """The one local lab of this session: which engine provisioned it, and what was kept of it."""

    def __init__(self) -> None:
        # "pyinfra", "ansible", "bare", "login", "gens" or None (no lab up)
        self.engine: str | None = None
        self.first_provision: dict = {}
        self.audit_dir = None
        self.audit: dict | None = None

    def fresh(self, engine: str, audits_root) -> LabInventory:
        """The lab as `engine` first provisioned it: built anew unless it is that lab already
        ("bare" and "login": not provisioned)."""
        if self.engine != engine:
            self.engine = None
            timing.set_lab(engine)
            assert wbl("lab", "down").returncode == 0
            proc = wbl("lab", "up", *UP_ARGS.get(engine, ()))
            assert proc.returncode == 0, proc.stderr
            if engine not in ("bare", "login"):
                proc = wbl("provision", "--engine", ENGINE_OF.get(engine, engine), "--json")
                assert proc.returncode == 0, proc.stderr
                self.first_provision = json.loads(proc.stdout)
            if engine == "pyinfra":
                # Before any app runs, so that it compares with a fresh Ansible lab's.
                self.audit_dir = audits_root / "pyinfra"
                proc = wbl("audit", "--out", str(self.audit_dir), "--json")
                assert proc.returncode == 0, proc.stderr
                self.audit = json.loads(proc.stdout)
            self.engine = engine
        return load_inventory(LOCAL_INVENTORY)

    def any(self, audits_root) -> LabInventory:
        return load_inventory(LOCAL_INVENTORY) if self.engine else self.fresh("bare", audits_root)

    def gone(self) -> None:
        """A test took the lab down."""
        self.engine = None
        timing.set_lab(None)


@pytest.fixture(scope="session")
def labs():
    state = Labs()
    yield state
    if state.engine:
        wbl("lab", "down")


@pytest.fixture(scope="session")
def audits_root(tmp_path_factory):
    return tmp_path_factory.mktemp("audits")


@pytest.fixture
def lab(labs, audits_root) -> LabInventory:
    """A lab provisioned with pyinfra (built fresh when the session has none)."""
    return labs.fresh("pyinfra", audits_root)


@pytest.fixture
def provisioned(lab, labs) -> dict:
    """The first pyinfra provision of that lab (--json)."""
    return labs.first_provision


@pytest.fixture
def pyinfra_audit(labs, audits_root) -> dict:
    """The audit of the freshly pyinfra-provisioned lab, taken before any app ran (that lab need
    not be up any more: the Ansible lab's tests compare with it)."""
    if labs.audit is None:
        labs.fresh("pyinfra", audits_root)
    assert labs.audit is not None
    return labs.audit


@pytest.fixture
def ansible_lab(labs, audits_root, pyinfra_audit) -> tuple[LabInventory, dict]:
    """A fresh lab provisioned with Ansible, and its first provision (--json). After the pyinfra
    lab's audit, which it is compared with."""
    inventory = labs.fresh("ansible", audits_root)
    return inventory, labs.first_provision


@pytest.fixture(scope="session")
def earlier_run(labs, audits_root, tmp_path_factory) -> Path:
    """A QUICK bench run (go-http, level 1) on a provisioned lab that a later one replaces: the
    login lab is then the lab rebuilt after a bench run, and its drift check is compared with this
    run's audit, of other machines (issue 13). On the lab that is up when first asked for (the
    Ansible lab in a whole session: test_ansible.py's last test), else on a fresh pyinfra lab."""
    if labs.engine not in ("pyinfra", "ansible"):
        labs.fresh("pyinfra", audits_root)
    results = tmp_path_factory.mktemp("earlier-run")
    run = wbl(
        "bench", "--quick", "--only", "go-http", "--levels", "1", "--duration", "1", "--repeats", "1",
        "--results", str(results),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (path,) = results.iterdir()
    return path


@pytest.fixture
def login_lab(labs, audits_root, earlier_run) -> LabInventory:
    """A fresh lab reached as real machines are (LOGIN_USER with sudo on LOGIN_PORT, root refused),
    not provisioned: its tests provision it with both engines, in their file's order. Built after
    `earlier_run`, so that it is also the lab rebuilt after a bench run."""
    return labs.fresh("login", audits_root)


@pytest.fixture
def gens_lab(labs, audits_root) -> LabInventory:
    """A fresh lab of two generators, a server and a backend host joined by a switch, provisioned
    with pyinfra (`lab up --generators 2 --backend`)."""
    return labs.fresh("gens", audits_root)


@pytest.fixture
def any_lab(labs, audits_root) -> LabInventory:
    """Whatever lab is up (or a bare one), for tests that take it down: they call labs.gone()."""
    return labs.any(audits_root)


@pytest.fixture
def no_lab(labs) -> None:
    assert wbl("lab", "down").returncode == 0
    labs.gone()


def _order(item) -> tuple[int, int]:
    if "gens_lab" in item.fixturenames:
        return 4, 0
    if "any_lab" in item.fixturenames or "no_lab" in item.fixturenames:
        return 3, 0
    if "login_lab" in item.fixturenames:
        return 2, 0
    if "ansible_lab" in item.fixturenames:
        return 1, 0
    return 0, 0 if item.get_closest_marker("fresh_lab") else 1


def pytest_collection_modifyitems(items):
    # One lab at a time: the pyinfra lab's tests, then the Ansible lab's, then the login lab's,
    # then those that take the lab down, then the generators lab's, which takes its own down (a
    # stable sort keeps each file's own order).
    items.sort(key=_order)
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the local lab needs root (run `sudo make test`)")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)
