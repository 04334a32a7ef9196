"""The e2e tests run on two real local labs, built by fixtures rather than by file order, so any one
file or test runs alone (`pytest tests/e2e/test_bench.py -k quick` builds what it needs):

- `lab` / `provisioned`: the default path, a fresh lab provisioned with pyinfra as root, one
  generator on a direct link (its first provision and the audit taken right after it are kept for
  the tests that look at them): test_lab.py, test_apps.py, test_bench.py;
- `earlier_run`: a QUICK bench run on that lab, last of its tests, before the lab is replaced;
- `real_lab`: every other path on one lab (test_ansible.py, test_login_user.py,
  test_generators.py): hosts reached as real machines are (`--login-user bench --ssh-port 2222`:
  sudo, root refused), two generators and a backend host on a switch. The fixture provisions it
  with Ansible twice (a fresh lab, then idempotence), audits it, then with pyinfra twice over it
  (parity: the audit after must equal Ansible's; idempotence) and audits it again; the tests read
  what it kept. It is also the lab rebuilt after `earlier_run`;
- `any_lab`, `no_lab` (test_teardown.py): whatever lab is up (or a bare one), for the tests that
  take it down.

One lab runs at a time, so a session orders its tests to build each lab once: the pyinfra lab's
tests first (those marked fresh_lab before any app runs, `earlier_run`'s last), then the real
lab's, then teardown's, which take the last lab down (see pytest_collection_modifyitems).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
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
GENERATORS = ["lab-generator1", "lab-generator2"]
# `lab up` arguments of each kind of lab (the others are root on port 22, one generator).
UP_ARGS = {
    "real": ("--login-user", LOGIN_USER, "--ssh-port", str(LOGIN_PORT), "--generators", "2", "--backend"),
}


def provision(engine: str) -> dict:
    """One provisioning run with `engine` (--json)."""
    proc = wbl("provision", "--engine", engine, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def audit(out: Path) -> dict:
    proc = wbl("audit", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@dataclass
class RealLab:
    """The real-machine lab as its fixture left it: each engine's two provisions (Ansible's first
    on the fresh hosts, then pyinfra's over them) and the audit taken after each engine's."""

    inventory: LabInventory
    provisions: dict[str, list[dict]]
    audits: dict[str, dict]
    audit_dir: Path
    clean: subprocess.CompletedProcess[str] | None = None

    def clean_check(self, results: Path, again: bool = False) -> subprocess.CompletedProcess[str]:
        """`audit --check --json --out results`, run once on this lab unless `again`: with
        `earlier_run`'s folder, whose one stored audit is of other hosts, it has no baseline. The
        drift test runs it after its repairs (again), and the rebuilt-lab test reads the same: a
        check takes a minute, and this lab is the one rebuilt after that run either way."""
        if self.clean is None or again:
            self.clean = wbl("audit", "--check", "--out", str(results), "--json")
        return self.clean


class Labs:
    """The one local lab of this session: which kind it is, and what was kept of it."""

    def __init__(self) -> None:
        # "pyinfra", "real", "bare" or None (no lab up)
        self.engine: str | None = None
        self.first_provision: dict = {}
        self.audit_dir = None
        self.audit: dict | None = None
        self.real: RealLab | None = None

    def fresh(self, engine: str, audits_root) -> LabInventory:
        """The lab of that kind as first provisioned: built anew unless it is that lab already
        ("bare": not provisioned)."""
        if self.engine != engine:
            self.engine = None
            timing.set_lab(engine)
            assert wbl("lab", "down").returncode == 0
            proc = wbl("lab", "up", *UP_ARGS.get(engine, ()))
            assert proc.returncode == 0, proc.stderr
            if engine == "pyinfra":
                self.first_provision = provision("pyinfra")
                # Before any app runs, as the audit of a freshly provisioned lab.
                self.audit_dir = audits_root / "pyinfra"
                self.audit = audit(self.audit_dir)
            elif engine == "real":
                self.real = self._provision_real(audits_root / "real")
            self.engine = engine
        return load_inventory(LOCAL_INVENTORY)

    @staticmethod
    def _provision_real(audit_dir: Path) -> RealLab:
        """Ansible on the fresh hosts, twice, and its audit; then pyinfra over that lab, twice,
        and its audit: both engines on one lab, each once from where the other left it."""
        provisions = {"ansible": [provision("ansible"), provision("ansible")]}
        audits = {"ansible": audit(audit_dir)}
        provisions["pyinfra"] = [provision("pyinfra"), provision("pyinfra")]
        audits["pyinfra"] = audit(audit_dir)
        return RealLab(load_inventory(LOCAL_INVENTORY), provisions, audits, audit_dir)

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


@pytest.fixture(scope="session")
def earlier_run(labs, audits_root, tmp_path_factory) -> Path:
    """A QUICK bench run (go-http, level 1) on a provisioned lab that a later one replaces: the
    real lab is then the lab rebuilt after a bench run, and its drift check is compared with this
    run's audit, of other machines (issue 13). On the pyinfra lab, after its other tests (ordered
    so), from a lab with no service running: the run's own are the ones it must stop. Its ceiling
    is measured (--ceiling-max-age 0), for a later run to reuse (test_bench.py)."""
    if labs.engine != "pyinfra":
        labs.fresh("pyinfra", audits_root)
    assert wbl("app", "stop", "services").returncode == 0
    results = tmp_path_factory.mktemp("earlier-run")
    run = wbl(
        "bench", "--quick", "--only", "go-http", "--levels", "1", "--duration", "1", "--repeats", "1",
        "--ceiling-max-age", "0", "--results", str(results),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (path,) = results.iterdir()
    return path


@pytest.fixture
def real_lab(labs, audits_root, earlier_run) -> RealLab:
    """The lab of every path but the default one: LOGIN_USER with sudo on LOGIN_PORT (root
    refused), two generators and a backend host on a switch, provisioned by both engines (see
    Labs._provision_real). Built after `earlier_run`, so that it is also the lab rebuilt after a
    bench run."""
    labs.fresh("real", audits_root)
    assert labs.real is not None
    return labs.real


@pytest.fixture(scope="session")
def real_quick_a(labs, audits_root, earlier_run, tmp_path_factory) -> tuple[Path, str]:
    """One QUICK Lab A run on the real lab (go-http and tornado, level 1), which the
    several-generator tests and the login-user tests both read: its results dir and stderr."""
    labs.fresh("real", audits_root)
    results = tmp_path_factory.mktemp("real-quick-a")
    proc = wbl(
        "bench", "--quick", "--only", "go-http,tornado", "--levels", "1", "--duration", "2",
        "--results", str(results),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (path,) = results.iterdir()
    return path, proc.stderr


@pytest.fixture
def any_lab(labs, audits_root) -> LabInventory:
    """Whatever lab is up (or a bare one), for tests that take it down: they call labs.gone()."""
    return labs.any(audits_root)


@pytest.fixture
def no_lab(labs) -> None:
    assert wbl("lab", "down").returncode == 0
    labs.gone()


def _order(item) -> tuple[int, int]:
    if "any_lab" in item.fixturenames or "no_lab" in item.fixturenames:
        return 3, 0
    if "real_lab" in item.fixturenames or "real_quick_a" in item.fixturenames:
        return 2, 0
    if "earlier_run" in item.fixturenames:
        return 0, 2
    return 0, 0 if item.get_closest_marker("fresh_lab") else 1


def pytest_collection_modifyitems(items):
    # One lab at a time: the pyinfra lab's tests (earlier_run's last), then the real lab's, then
    # those that take the lab down (a stable sort keeps each file's own order).
    items.sort(key=_order)
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the local lab needs root (run `sudo make test`)")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)
