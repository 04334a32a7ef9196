"""Ansible and pyinfra on the real lab (`real_lab`, hosts reached through sudo): Ansible builds the
fresh hosts and its second run changes nothing; pyinfra over Ansible's lab leaves it as Ansible's
audit says (the same lab from both engines) and its second run changes nothing; drift that
`audit --check` names, and that each engine repairs once (a lab rebuilt after a bench run:
test_login_user.py)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import NGINX_SITE, RealLab, sh, wbl
from webbench_lab.audit.diff import compare

pytestmark = pytest.mark.e2e


def _changes(run: dict) -> dict[str, int]:
    return {name: host["changed"] for name, host in run["hosts"].items()}


def test_ansible_provisions_the_fresh_hosts_and_a_second_run_changes_nothing(real_lab: RealLab):
    first, second = real_lab.provisions["ansible"]
    assert first["engine"] == "ansible" and first["ok"]
    assert set(first["hosts"]) == set(real_lab.inventory.hosts)
    # The backend host has the fewest roles (common and the upstream API).
    changes = _changes(first)
    assert all(n > (3 if name == "lab-backend" else 10) for name, n in changes.items()), changes
    for name, host in second["hosts"].items():
        assert host["ops"] > (5 if name == "lab-backend" else 20), (name, host["ops"])
        assert host["changed"] == 0, (name, host["changed_ops"])


def test_pyinfra_over_the_ansible_lab_gives_the_same_lab_and_a_second_run_changes_nothing(
    real_lab: RealLab,
):
    first, second = real_lab.provisions["pyinfra"]
    assert first["engine"] == "pyinfra" and first["ok"]
    for name, host in second["hosts"].items():
        assert host["ops"] > 5 and host["changed"] == 0, (name, host["changed_ops"])
    # The audit after pyinfra equals the audit after Ansible: whatever pyinfra would have made
    # differently (a file, a mode, a package, a version), it changed, and the audit would show it.
    drifts = compare(real_lab.audits["ansible"], real_lab.audits["pyinfra"], source="Ansible's lab")
    assert drifts == [], "\n".join(f"{d.host} {d.what}: {d.expected} != {d.found}" for d in drifts)
    # Not vacuous: the audits hold the lab, every host of it.
    audit = real_lab.audits["pyinfra"]
    assert set(audit["hosts"]) == set(real_lab.inventory.hosts)
    assert len(audit["hosts"]["lab-server"]["configs"]) >= 15
    assert all(host["packages"] for host in audit["hosts"].values())


def _check(real_lab: RealLab, code: int) -> list[dict]:
    proc = wbl("audit", "--check", "--out", str(real_lab.audit_dir), "--json")
    assert proc.returncode == code, proc.stderr + proc.stdout  # the drifts (--json) on stdout
    return json.loads(proc.stdout)


def _hand_changes_left(server) -> list[str]:
    """Which of the drift test's hand changes the server still shows (read directly, in a second)."""
    probe = (
        f"grep -c 'edited by hand' {NGINX_SITE} || true; "
        "dpkg-query -W -f='${Status}' spawn-fcgi 2>/dev/null | grep -c 'install ok installed' || true; "
        "sudo -n ls -A /srv/webbench/jail"
    )
    edited, installed, *jail = sh(server, probe).split()
    left = ["nginx site edited"] if edited != "0" else []
    left += ["spawn-fcgi removed"] if installed == "0" else []
    return left + [name for name in jail if name in ("extra", ".hidden")]


def test_audit_check_names_each_hand_change_and_each_engine_repairs_them(real_lab: RealLab, earlier_run):
    """Three hand changes, named by each of the check's sources; Ansible repairs them (read on the
    server directly: a second, where another `audit --check` takes a minute). Two more; pyinfra
    repairs them (read so too), and the check through sudo, with both engines' check modes, finds
    nothing, so both repairs held."""
    server = real_lab.inventory.hosts["lab-server"]
    sh(server, f"echo '# edited by hand' | sudo -n tee -a {NGINX_SITE} >/dev/null")
    sh(server, "sudo -n dpkg -r spawn-fcgi")
    sh(server, "echo stray | sudo -n tee /srv/webbench/jail/extra >/dev/null")
    drifts = _check(real_lab, 1)
    assert {d["host"] for d in drifts} == {"lab-server"}
    named = {(d["source"], d["what"]) for d in drifts}
    for source, fragments in {
        "ansible check": (NGINX_SITE, "spawn-fcgi", "/srv/webbench/jail/extra"),
        "pyinfra check": (NGINX_SITE, "spawn-fcgi", "/srv/webbench/jail"),
        "last audit": (f"configs.{NGINX_SITE}", "packages.spawn-fcgi", "jail.extra"),
    }.items():
        for fragment in fragments:
            assert any(s == source and fragment in what for s, what in named), (source, fragment, named)
    package = next(d for d in drifts if d["what"] == "packages.spawn-fcgi")
    assert package["found"] == "null" and package["expected"]

    repair = wbl("provision", "--engine", "ansible", "--json")
    assert repair.returncode == 0, repair.stderr
    assert json.loads(repair.stdout)["hosts"]["lab-server"]["changed"] >= 3
    assert _hand_changes_left(server) == []

    sh(server, "sudo -n dpkg -r spawn-fcgi && sudo -n touch /srv/webbench/jail/.hidden")
    assert _hand_changes_left(server) == ["spawn-fcgi removed", ".hidden"]  # the probe sees them
    repair = wbl("provision", "--json")
    assert repair.returncode == 0, repair.stderr
    assert json.loads(repair.stdout)["hosts"]["lab-server"]["changed"] >= 2
    assert _hand_changes_left(server) == []
    # Both repairs held: both engines' checks find nothing. Into earlier_run's folder (no
    # baseline there): the same check is the rebuilt-lab test's (test_login_user.py).
    clean = real_lab.clean_check(earlier_run.parent, again=True)
    assert clean.returncode == 0 and json.loads(clean.stdout) == [], clean.stderr + clean.stdout
    assert "desired state only" in clean.stderr, clean.stderr
