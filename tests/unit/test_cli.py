"""Bad input on the command line: one line naming the problem and the fix, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from webbench_lab.cli import main as cli
from webbench_lab.cli import options
from webbench_lab.errors import UserError


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webbench_lab", *args], capture_output=True, text=True, timeout=120
    )


def assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert proc.stdout == ""


def test_missing_inventory(tmp_path):
    proc = run_cli("provision", "-i", str(tmp_path / "mylab.yml"))
    assert_one_line_exit_2(proc, "mylab.yml: no such inventory source")


def test_invalid_yaml(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("all: {children: [\n")
    proc = run_cli("provision", "-i", str(bad))
    assert_one_line_exit_2(proc, "bad.yml, line 2: Ansible cannot parse it: YAML parsing failed")


def test_unknown_engine(write_inventory):
    proc = run_cli("provision", "-i", str(write_inventory()), "--engine", "chef")
    assert_one_line_exit_2(proc, "--engine chef: unknown engine")


def test_unknown_subcommand():
    assert_one_line_exit_2(run_cli("lab", "frob"), "invalid choice: 'frob'")


def test_host_without_address(write_inventory, ssh_files):
    from tests.conftest import valid_inventory

    data = valid_inventory(*ssh_files)
    del data["all"]["children"]["generator"]["hosts"]["gen1"]["ansible_host"]
    path = write_inventory(data)
    assert_one_line_exit_2(run_cli("provision", "-i", str(path)), "host 'gen1': no address")


def test_unreachable_host_is_one_line_within_the_timeout(write_inventory, ssh_files, tmp_path):
    """A closed port on loopback: refused at once, reported with host, endpoint and the fix."""
    from tests.conftest import valid_inventory

    data = valid_inventory(*ssh_files)
    for group in ("generator", "server"):
        for host in data["all"]["children"][group]["hosts"].values():
            host.update(ansible_host="127.0.0.1", ansible_port=1)
    path = tmp_path / "closed.yml"
    path.write_text(yaml.safe_dump(data))
    proc = run_cli("provision", "-i", str(path))
    assert_one_line_exit_2(proc, "unreachable")
    assert "127.0.0.1:1" in proc.stderr


@pytest.mark.parametrize("action", [["lab", "up"], ["lab", "down"]])
def test_lab_needs_root(monkeypatch, capsys, action):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(action) == 2
    err = capsys.readouterr().err
    # No `sudo` in the fix: a fresh Debian 12 where one is root has none.
    assert "must run as root" in err and f"run `webbench-lab lab {action[1]}` or `make lab` as root" in err
    assert "sudo" not in err
    assert len(err.strip().splitlines()) == 1


def test_provision_without_inventory_and_without_local_lab(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(options, "LOCAL_INVENTORY", tmp_path / "local.yml")
    with pytest.raises(UserError) as err:
        options.resolve_inventory(None)
    assert "run `webbench-lab lab up` (as root) first, or pass -i" in str(err.value)


def test_the_command_line_imports_nothing_heavy_before_a_command_runs():
    """provision patches gevent before paramiko, fabric or ssl are imported: parsing must not
    import them (each command imports what it needs when it runs), nor scipy (compare's, slow)."""
    code = (
        "import sys; from webbench_lab.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('paramiko', 'fabric', 'invoke', 'pyinfra', 'ssl', 'gevent', "
        "'ansible', 'ansible_runner', 'scipy', 'numpy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_every_command_has_its_handler():
    parser = cli.build_parser()
    for argv in (["lab", "up"], ["lab", "down"], ["lab", "status"], ["provision"], ["audit"],
                 ["app", "start", "go-http"], ["app", "stop", "go-http"], ["app", "list"],
                 ["app", "build"], ["bench"], ["verify"], ["compare", "a", "b"]):  # fmt: skip
        args = parser.parse_args(argv)
        assert callable(args.handler) and args.handler.__module__.startswith("webbench_lab.cli."), argv


def test_a_negative_ceiling_max_age_is_one_line_and_exit_2_even_in_a_dry_run():
    proc = run_cli("bench", "--quick", "--dry-run", "--ceiling-max-age", "-1")
    assert_one_line_exit_2(proc, "--ceiling-max-age -1: give 0 (measure every ceiling) or more seconds")
