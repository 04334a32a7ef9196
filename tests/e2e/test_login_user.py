"""The real-machine path on the local lab (issue 13, point 2), on the real lab (`real_lab`:
`lab up --login-user bench --ssh-port 2222 --generators 2 --backend`): hosts reached as real
machines are (a user with the lab's key and passwordless sudo, root refused by sshd, sshd on another
port), and everything works through sudo: provisioning with pyinfra and with Ansible (the fixture's
runs; test_ansible.py checks Ansible's), the apps, verify, a QUICK bench, the audit and its check.
It is also the lab rebuilt after a bench run (`earlier_run`, on the lab before it): that run's audit
is of other machines, so the check has no baseline and finds no drift. sshd's own log says that
nobody logged in as root.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess

import pytest
import yaml

from tests.e2e.conftest import LOGIN_PORT, LOGIN_USER, UP_ARGS, RealLab, sh, wbl
from webbench_lab.errors import UserError
from webbench_lab.hosts.ssh import connect
from webbench_lab.locallab import hosts as lab_hosts
from webbench_lab.paths import LOCAL_INVENTORY

pytestmark = pytest.mark.e2e

ACCEPTED = re.compile(r"Accepted (\S+) for (\S+) from")


def test_the_inventory_logs_in_as_the_user_with_become_on_the_port(real_lab: RealLab):
    data = yaml.safe_load(LOCAL_INVENTORY.read_text())["all"]
    assert data["vars"]["ansible_user"] == LOGIN_USER and data["vars"]["ansible_become"] is True
    for group in ("generator", "server", "backend"):
        for host in data["children"][group]["hosts"].values():
            assert host["ansible_port"] == LOGIN_PORT
    for host in real_lab.inventory.hosts.values():
        assert (host.user, host.port, host.become) == (LOGIN_USER, LOGIN_PORT, True)
    status = wbl("lab", "status")
    assert status.returncode == 0 and status.stdout.count(" up ") == 4, status.stdout
    # The running lab is kept: the same options again do nothing, others are refused in one line.
    again = wbl("lab", "up", *UP_ARGS["real"])
    assert again.returncode == 0 and "already up" in again.stderr, again.stderr
    as_root = wbl("lab", "up", "--generators", "2", "--backend")
    assert as_root.returncode == 2, as_root.stderr
    assert f"already up with login {LOGIN_USER} on port {LOGIN_PORT}" in as_root.stderr


def test_each_host_has_the_user_with_sudo_and_sshd_on_the_port_only(real_lab: RealLab):
    for host in real_lab.inventory.hosts.values():
        assert sh(host, "id -un").strip() == LOGIN_USER
        assert sh(host, "sudo -n id -un").strip() == "root"
        assert "NOPASSWD: ALL" in sh(host, "sudo -n -l")
        effective = sh(host, "sudo -n /usr/sbin/sshd -T").splitlines()
        assert f"port {LOGIN_PORT}" in effective and "permitrootlogin no" in effective
        assert "passwordauthentication no" in effective
        # Root has no key to log in with either, and the user no password.
        assert sh(host, "sudo -n sh -c 'test -e /root/.ssh/authorized_keys || echo none'").strip() == "none"
        assert sh(host, f"sudo -n getent shadow {LOGIN_USER}").split(":")[1] == "*"
        # Nothing listens on 22 any more.
        with pytest.raises(ConnectionRefusedError), socket.create_connection((host.address, 22), timeout=5):
            pass


def test_root_login_is_refused(real_lab: RealLab):
    for host in real_lab.inventory.hosts.values():
        as_root = dataclasses.replace(host, user="root")
        # fabric/paramiko, strict host key: the key is right, the user is refused.
        with pytest.raises(UserError, match="key authentication failed for user root"):
            connect(as_root)
        # OpenSSH as Ansible uses it, with the lab's key and known_hosts.
        openssh = subprocess.run(
            [
                "ssh",
                "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={host.known_hosts}",
                "-o", "IdentitiesOnly=yes",
                "-i", str(host.key_file),
                "-p", str(host.port),
                f"root@{host.address}",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )  # fmt: skip
        assert openssh.returncode == 255 and "Permission denied (publickey)" in openssh.stderr, openssh.stderr


def test_pyinfra_provisions_through_sudo_and_a_second_run_changes_nothing(real_lab: RealLab):
    first, second = real_lab.provisions["pyinfra"]
    assert first["ok"] and set(first["hosts"]) == set(real_lab.inventory.hosts)
    for name, host in second["hosts"].items():
        assert host["ops"] > 5 and host["changed"] == 0, (name, host["changed_ops"])
    # Installed as root through sudo: root's files, not the login user's.
    server = real_lab.inventory.hosts["lab-server"]
    owners = sh(server, "stat -L -c %U /opt/webbench/lib/appctl.py /usr/local/bin/go /opt/webbench").split()
    assert owners == ["root", "root", "root"], owners


def test_audit_through_sudo(real_lab: RealLab):
    root = real_lab.audit_dir
    proc = wbl("audit", "--out", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    audit = json.loads(proc.stdout)
    for name, host in audit["hosts"].items():
        assert host["errors"] == {}, (name, host["errors"])
        assert [p["port"] for p in host["ports"]] == [LOGIN_PORT]
        assert LOGIN_USER in {u["name"] for u in host["users"]}
        assert host["ssh_host_keys"] and host["packages"]
    assert audit["hosts"]["lab-server"]["configs"]["/etc/webbench/redis.conf"]
    # `audit --check` through sudo (both engines' check modes and this lab's last audit) is
    # test_ansible.py's drift test, on this lab; the check without a baseline is the next test.


def test_a_lab_rebuilt_after_a_bench_run_has_no_drift(real_lab: RealLab, earlier_run):
    """`bench; lab down; lab up; provision; audit --check` (issue 13): this lab replaced the one
    `earlier_run` benchmarked, whose audit is of other hosts (lab-generator and lab-server, not this
    lab's four), so it is not the baseline: no drift, the desired state only. (A stored audit of
    the same host names with other SSH host keys, the same lab shape rebuilt, is
    tests/unit/test_drift_baseline.py's case. Hand edits named by both engines' checks, which
    read no baseline, are test_ansible.py's drift test, on this lab.)"""
    check = real_lab.clean_check(earlier_run.parent)  # the drift test's last check, if it ran
    assert check.returncode == 0 and json.loads(check.stdout) == [], check.stdout
    assert "baseline: none: no stored audit of these hosts" in check.stderr, check.stderr
    assert "desired state only" in check.stderr


def test_the_apps_and_verify_work_through_the_agent_over_sudo(real_lab: RealLab):
    built = wbl("app", "build", "go-http")
    assert built.returncode == 0 and "built /opt/webbench/build/go-http" in built.stdout, built.stdout
    started = wbl("app", "start", "tornado", "--level", "1")
    assert started.returncode == 0, started.stderr
    listed = wbl("app", "list")
    assert listed.returncode == 0, listed.stderr
    assert any("tornado" in ln and "running" in ln for ln in listed.stdout.splitlines()), listed.stdout
    stopped = wbl("app", "stop", "tornado")
    assert stopped.returncode == 0, stopped.stderr
    proc = wbl("verify", "--level", "1", "go-http", "tornado")
    assert proc.returncode == 0, proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.count("│") > 2]
    for name in ("go-http", "tornado"):
        row = next(r for r in rows if r.split("│")[1].strip() == name)
        assert row.count("pass") == 7, row


def test_a_quick_bench_runs_through_sudo(real_quick_a):
    path, _ = real_quick_a
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["complete"] is True
    for host in manifest["inventory"].values():
        assert (host["user"], host["port"], host["become"]) == (LOGIN_USER, LOGIN_PORT, True)
    (top,) = manifest["generator_ceiling"].values()
    assert top["rate"] > 0
    rows = [r for r in json.loads((path / "summary.json").read_text()) if r["row"] == "repeat"]
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "ok" and row["rate"] > 0 and row["availability"] == 100.0, row
        # The samplers ran through sudo on every host; the case ran alone.
        assert row["server_rss_mb"] > 0 and row["generator_cpu_pct"] is not None, row
        assert row["idle"]["quiet"] is True and row["idle"]["running"] == [], row["idle"]
    # The run's guard held every host over its sudo channel and ended what the run left.
    audit = json.loads((path / "audit.json").read_text())
    assert set(audit["hosts"]) == set(manifest["inventory"])


def test_nobody_logged_in_as_root_over_ssh(real_lab: RealLab):
    """sshd's own log (hostinit keeps each host's sshd output) since this lab's `lab up`: every
    login the lab's commands made was the login user's."""
    for host in real_lab.inventory.hosts.values():
        log = lab_hosts.host_dir(host.name.removeprefix("lab-")) / "init.log"
        users = [m.group(2) for m in ACCEPTED.finditer(log.read_text(errors="replace"))]
        assert len(users) >= 5, log  # provisioning, the apps, the bench: many logins
        assert set(users) == {LOGIN_USER}, sorted(set(users))
