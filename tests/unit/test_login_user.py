"""`lab up --login-user NAME --ssh-port PORT`: the local hosts reached as real machines are, through
a user with sudo on another port, and every client told so by the inventory `lab up` writes.

Nothing here builds a lab: the command line is only parsed, never run (its handler would start one).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from webbench_lab.cli import main as cli
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.locallab import login, rootfs, topology
from webbench_lab.provision.pyinfra_engine import pyinfra_host_data
from webbench_lab.templating import render


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})


def write_local_inventory(tmp_path, ssh_files, topo) -> os.PathLike:
    key, known = ssh_files
    path = tmp_path / "local.yml"
    path.write_text(render("locallab/inventory.yml.j2", topo=topo, key_file=key, known_hosts=known))
    return path


def test_the_inventory_lab_up_writes_logs_in_as_the_user_on_the_port_with_sudo(tmp_path, ssh_files, two_cpus):
    topo = topology.plan(login_user="bench", ssh_port=2222)
    inventory = load_inventory(write_local_inventory(tmp_path, ssh_files, topo))
    assert sorted(inventory.hosts) == ["lab-generator", "lab-server"]
    for host in inventory.hosts.values():
        assert (host.user, host.port, host.become) == ("bench", 2222, True)
        assert host.endpoint.startswith("bench@") and host.endpoint.endswith(":2222")
        assert host.vars["ansible_become"] is True  # Ansible itself becomes root
        data = pyinfra_host_data(host)  # and pyinfra through sudo
        assert (data["ssh_user"], data["ssh_port"], data["_sudo"]) == ("bench", 2222, True)
        assert data["ssh_strict_host_key_checking"] == "yes"


def test_by_default_root_logs_in_on_22_without_sudo(tmp_path, ssh_files, two_cpus):
    inventory = load_inventory(write_local_inventory(tmp_path, ssh_files, topology.plan()))
    for host in inventory.hosts.values():
        assert (host.user, host.port, host.become) == ("root", 22, False)
        assert "ansible_become" not in host.vars
        assert "_sudo" not in pyinfra_host_data(host)


def test_sshd_refuses_root_when_another_user_logs_in_and_listens_on_the_port():
    text = login.sshd_config("server", "198.18.0.3", 2222, "bench")
    lines = text.splitlines()
    assert "Port 2222" in lines and "ListenAddress 198.18.0.3" in lines
    assert "PermitRootLogin no" in lines
    for key_only in (
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AuthenticationMethods publickey",
    ):
        assert key_only in lines
    as_root = login.sshd_config("server", "198.18.0.3", 22, "root").splitlines()
    assert "Port 22" in as_root and "PermitRootLogin prohibit-password" in as_root


def test_the_sudoers_rule_gives_the_user_root_without_a_password(tmp_path):
    text = login.sudoers("bench")
    rules = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert rules == ["bench ALL=(ALL:ALL) NOPASSWD: ALL"]
    visudo = shutil.which("visudo")
    if visudo:  # the control machine may have no sudo (a fresh Debian 12 has none); the hosts check it
        path = tmp_path / "webbench-lab"
        path.write_text(text)
        path.chmod(0o440)
        proc = subprocess.run([visudo, "-c", "-f", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_plan_and_the_state_file_keep_who_logs_in_and_where(tmp_path, monkeypatch, two_cpus):
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    topo = topology.plan(login_user="bench", ssh_port=2222)
    assert (topo.login_user, topo.ssh_port, topo.become) == ("bench", 2222, True)
    topology.save(topo, "up")
    loaded, _ = topology.load()
    assert loaded == topo
    # A state file of a lab started before these options: root on 22.
    data = json.loads(topology.state_file().read_text())
    del data["login_user"], data["ssh_port"]
    topology.state_file().write_text(json.dumps(data))
    older, _ = topology.load()
    assert (older.login_user, older.ssh_port, older.become) == ("root", 22, False)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("Bench", "not a user name useradd takes"),
        ("1bench", "not a user name useradd takes"),
        ("be nch", "not a user name useradd takes"),
        ("b" * 33, "not a user name useradd takes"),
        ("", "not a user name useradd takes"),
        ("www-data", "an account the hosts already have"),
        ("sshd", "an account the hosts already have"),
        ("webbench", "the user the lab's apps run as"),
    ],
)
def test_a_login_user_that_cannot_be_made_is_refused(name, fragment):
    with pytest.raises(UserError, match=fragment):
        login.check_user(name)


def test_good_login_users():
    assert [login.check_user(n) for n in ("bench", "ops_admin", "_lab", "lab-1", "root")] == [
        "bench",
        "ops_admin",
        "_lab",
        "lab-1",
        "root",
    ]


@pytest.mark.parametrize("port", ["x", "0", "65536", "-22", "22.5", ""])
def test_a_port_that_is_not_a_tcp_port_is_refused(port):
    with pytest.raises(UserError, match="not a TCP port; give a number from 1 to 65535"):
        login.check_port(port)


def test_a_port_the_lab_uses_is_refused():
    assert login.check_port("2222", {6379: "Redis"}) == 2222
    with pytest.raises(UserError, match="--ssh-port 6379: Redis listens there"):
        login.check_port("6379", {6379: "Redis"})


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["--login-user", "Bad!"],
            "argument --login-user: --login-user 'Bad!': not a user name useradd takes",
        ),
        (["--login-user", "webbench"], "--login-user webbench: the user the lab's apps run as"),
        (["--ssh-port", "70000"], "argument --ssh-port: --ssh-port '70000': not a TCP port"),
        (["--ssh-port", "two"], "--ssh-port 'two': not a TCP port"),
        (["--login-user", "bench", "--ssh-port", "6379"], "--ssh-port 6379: Redis listens there"),
        (["--ssh-port", "8000"], "--ssh-port 8000: system "),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args, fragment, capsys):
    # Parsed only: a usage error ends in the parser, before any handler could start a lab.
    with pytest.raises(SystemExit) as ended:
        cli.build_parser().parse_args(["lab", "up", *args])
    assert ended.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == "", captured
    assert lines[0].startswith("webbench-lab: ") and fragment in lines[0], lines[0]


def test_good_options_are_parsed_and_default_to_root_on_22():
    args = cli.build_parser().parse_args(["lab", "up", "--login-user", "bench", "--ssh-port", "2222"])
    assert (args.login_user, args.ssh_port) == ("bench", 2222)
    default = cli.build_parser().parse_args(["lab", "up"])
    assert (default.login_user, default.ssh_port) == ("root", 22)


def test_the_user_gets_the_key_and_sudo_from_the_hosts_own_tools(tmp_path, monkeypatch):
    """add_user as `lab up` runs it, with useradd, visudo and chown recorded instead of run."""
    root = tmp_path / "root"
    (root / "etc" / "sudoers.d").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    commands, owners = [], {}

    def fake_run(args, **_kwargs):
        commands.append(list(args))
        if args[0] == "useradd":  # what useradd --root does to the tree
            with open(root / "etc" / "passwd", "a") as fh:
                fh.write("bench:x:1000:1001::/home/bench:/bin/bash\n")
            (root / "home" / "bench").mkdir(parents=True)
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(login, "run", fake_run)
    monkeypatch.setattr(login.os, "chown", lambda path, uid, gid: owners.__setitem__(str(path), (uid, gid)))
    login.add_user(root, "bench", "ssh-ed25519 AAAA webbench-lab\n")

    assert commands[0][:3] == ["useradd", "--root", str(root)] and commands[0][-1] == "bench"
    assert commands[0][commands[0].index("--password") + 1] == "*"  # no password, not locked
    assert commands[1] == ["chroot", str(root), "visudo", "-c", "-f", "/etc/sudoers.d/webbench-lab"]
    keys = root / "home" / "bench" / ".ssh" / "authorized_keys"
    assert keys.read_text() == "ssh-ed25519 AAAA webbench-lab\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    assert owners == {str(keys.parent): (1000, 1001), str(keys): (1000, 1001)}
    sudoers = root / login.SUDOERS
    assert sudoers.read_text() == login.sudoers("bench") and stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert not (root / "root" / ".ssh").exists()


def test_a_rootfs_cache_without_sudo_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    assert "sudo" in rootfs.INCLUDE
    marker = rootfs.rootfs_dir() / ".webbench-lab-complete"
    marker.parent.mkdir(parents=True)
    marker.write_text("bookworm http://deb.example/debian\n")  # as caches were marked before sudo
    assert not rootfs.is_cached()
    marker.write_text(f"bookworm http://deb.example/debian\ninclude {','.join(rootfs.INCLUDE)}\n")
    assert rootfs.is_cached()
