"""The real-machine path on the local lab (issue 13, point 2): `lab up --login-user bench --ssh-port
2222` gives hosts reached as real machines are (a user with the lab's key and passwordless sudo,
root refused by sshd, sshd on another port), and everything works through sudo: provisioning with
pyinfra and with Ansible (nothing changes the second time), the apps, verify, a QUICK bench, the
audit and its check. It is also the lab rebuilt after a bench run (`earlier_run`, on the lab before
it): that run's audit is of other machines, so the check has no baseline and finds no drift.
sshd's own log says that nobody logged in as root.

The tests run in this file's order on one lab (the `login_lab` fixture builds it, the session takes
it down), after the pyinfra and Ansible labs' tests when the whole suite runs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import LOGIN_PORT, LOGIN_USER, NGINX_SITE, sh, wbl
from webbench_lab.errors import UserError
from webbench_lab.hosts.ssh import connect
from webbench_lab.locallab import hosts as lab_hosts
from webbench_lab.paths import LOCAL_INVENTORY

pytestmark = pytest.mark.e2e

ACCEPTED = re.compile(r"Accepted (\S+) for (\S+) from")


def provision_twice(engine: str) -> tuple[dict, dict]:
    """Two provisions in a row with `engine`, each --json."""
    runs = []
    for _ in range(2):
        proc = wbl("provision", "--engine", engine, "--json")
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
    return runs[0], runs[1]


def test_the_inventory_logs_in_as_the_user_with_become_on_the_port(login_lab):
    data = yaml.safe_load(LOCAL_INVENTORY.read_text())["all"]
    assert data["vars"]["ansible_user"] == LOGIN_USER and data["vars"]["ansible_become"] is True
    for group in ("generator", "server"):
        for host in data["children"][group]["hosts"].values():
            assert host["ansible_port"] == LOGIN_PORT
    for host in login_lab.hosts.values():
        assert (host.user, host.port, host.become) == (LOGIN_USER, LOGIN_PORT, True)
    status = wbl("lab", "status")
    assert status.returncode == 0 and status.stdout.count(" up ") == 2, status.stdout
    # The running lab is kept: the same options again do nothing, others are refused in one line.
    again = wbl("lab", "up", "--login-user", LOGIN_USER, "--ssh-port", str(LOGIN_PORT))
    assert again.returncode == 0 and "already up" in again.stderr, again.stderr
    as_root = wbl("lab", "up")
    assert as_root.returncode == 2, as_root.stderr
    assert f"already up with login {LOGIN_USER} on port {LOGIN_PORT}" in as_root.stderr


def test_each_host_has_the_user_with_sudo_and_sshd_on_the_port_only(login_lab):
    for host in login_lab.hosts.values():
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


def test_root_login_is_refused(login_lab):
    for host in login_lab.hosts.values():
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


def test_pyinfra_provisions_through_sudo_and_a_second_run_changes_nothing(login_lab):
    first, second = provision_twice("pyinfra")
    assert first["ok"] and all(h["changed"] > 5 for h in first["hosts"].values()), first["hosts"]
    for name, host in second["hosts"].items():
        assert host["ops"] > 5 and host["changed"] == 0, (name, host["changed_ops"])
    # Installed as root through sudo: root's files, not the login user's.
    server = login_lab.hosts["lab-server"]
    owners = sh(server, "stat -L -c %U /opt/webbench/lib/appctl.py /usr/local/bin/go /opt/webbench").split()
    assert owners == ["root", "root", "root"], owners


def test_ansible_provisions_the_same_lab_through_become_and_a_second_run_changes_nothing(login_lab):
    first, second = provision_twice("ansible")
    assert first["engine"] == "ansible" and first["ok"]
    for name, host in second["hosts"].items():
        assert host["ops"] > 20 and host["changed"] == 0, (name, host["changed_ops"])


def test_audit_through_sudo_and_its_check_is_clean(login_lab, audits_root):
    root = audits_root / "login"
    proc = wbl("audit", "--out", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    audit = json.loads(proc.stdout)
    for name, host in audit["hosts"].items():
        assert host["errors"] == {}, (name, host["errors"])
        assert [p["port"] for p in host["ports"]] == [LOGIN_PORT]
        assert LOGIN_USER in {u["name"] for u in host["users"]}
        assert host["ssh_host_keys"] and host["packages"]
    assert audit["hosts"]["lab-server"]["configs"]["/etc/webbench/redis.conf"]
    # Both engines' check modes run through sudo and find nothing; nor does the audit just taken.
    check = wbl("audit", "--check", "--out", str(root), "--json")
    assert check.returncode == 0 and json.loads(check.stdout) == [], check.stdout


def test_a_lab_rebuilt_after_a_bench_run_has_no_drift_and_a_hand_edit_is_named(login_lab, earlier_run):
    """`bench; lab down; lab up; provision; audit --check` (issue 13): this lab replaced the one
    `earlier_run` benchmarked, so that run's audit is of other machines (other SSH host keys) and
    is not the baseline: no drift. A hand edit of an nginx site is drift that the check names."""
    results = str(earlier_run.parent)
    check = wbl("audit", "--check", "--out", results, "--json")
    assert check.returncode == 0 and json.loads(check.stdout) == [], check.stdout
    assert "baseline: none: the stored audits of these hosts are of other machines" in check.stderr
    assert earlier_run.name in check.stderr and "desired state only" in check.stderr

    server = login_lab.hosts["lab-server"]
    sh(server, f"echo '# edited by hand' | sudo -n tee -a {NGINX_SITE} >/dev/null")
    try:
        edited = wbl("audit", "--check", "--out", results, "--json")
        assert edited.returncode == 1, edited.stderr
        drifts = json.loads(edited.stdout)
        assert {d["source"] for d in drifts} == {"ansible check", "pyinfra check"}, drifts
        assert all(d["host"] == "lab-server" and NGINX_SITE in d["what"] for d in drifts), drifts
    finally:
        sh(server, f"sudo -n sed -i '$ d' {NGINX_SITE}")  # as provisioned again


def test_the_apps_and_verify_work_through_the_agent_over_sudo(login_lab):
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


def test_a_quick_bench_runs_through_sudo(login_lab, tmp_path):
    proc = wbl(
        "bench", "--quick", "--only", "go-http,tornado", "--levels", "1", "--duration", "2",
        "--results", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("results: "))
    path = Path(line.split(": ", 1)[1].strip())
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
        # The samplers ran through sudo on both hosts; the case ran alone.
        assert row["server_rss_mb"] > 0 and row["generator_cpu_pct"] is not None, row
        assert row["idle"]["quiet"] is True and row["idle"]["running"] == [], row["idle"]
    # The run's guard held both hosts over its sudo channel and ended what the run left.
    audit = json.loads((path / "audit.json").read_text())
    assert set(audit["hosts"]) == {"lab-generator", "lab-server"}


def test_nobody_logged_in_as_root_over_ssh(login_lab):
    """sshd's own log (hostinit keeps each host's sshd output) since this lab's `lab up`: every
    login the lab's commands made was the login user's."""
    for host in login_lab.hosts.values():
        log = lab_hosts.host_dir(host.name.removeprefix("lab-")) / "init.log"
        users = [m.group(2) for m in ACCEPTED.finditer(log.read_text(errors="replace"))]
        assert len(users) >= 5, log  # provisioning, the apps, the bench: many logins
        assert set(users) == {LOGIN_USER}, sorted(set(users))
