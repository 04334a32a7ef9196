"""A second fresh lab, provisioned with Ansible: idempotent, the same audit as pyinfra's lab, drift
that `audit --check` names and provisioning repairs (a lab rebuilt after a bench run: test_login_user.py)."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import NGINX_SITE, by_group, sh, wbl
from webbench_lab.audit.diff import compare

pytestmark = pytest.mark.e2e


def test_ansible_provisions_a_fresh_lab_and_a_second_run_changes_nothing(ansible_lab):
    _, first = ansible_lab
    assert first["engine"] == "ansible" and first["ok"]
    assert all(h["changed"] > 10 for h in first["hosts"].values()), first["hosts"]
    second = wbl("provision", "--engine", "ansible", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    for name, host in again["hosts"].items():
        assert host["ops"] > 20 and host["changed"] == 0, (name, host["changed_ops"])


def test_both_engines_build_the_same_lab(ansible_lab, pyinfra_audit, audits_root):
    proc = wbl("audit", "--out", str(audits_root / "ansible"), "--json")
    assert proc.returncode == 0, proc.stderr
    ansible_audit = json.loads(proc.stdout)
    drifts = compare(pyinfra_audit, ansible_audit, source="pyinfra lab")
    assert drifts == [], "\n".join(f"{d.host} {d.what}: {d.expected} != {d.found}" for d in drifts)
    # Not vacuous: the audits hold the lab, and the host keys (ignored) do differ.
    assert len(ansible_audit["hosts"]["lab-server"]["configs"]) >= 15
    keys = [a["hosts"]["lab-server"]["ssh_host_keys"] for a in (pyinfra_audit, ansible_audit)]
    assert keys[0] != keys[1]


def test_audit_check_names_each_hand_change_and_provisioning_repairs_them(ansible_lab, audits_root):
    inventory, _ = ansible_lab
    root = str(audits_root / "ansible")
    clean = wbl("audit", "--check", "--out", root, "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout) == [], clean.stdout

    server = by_group(inventory, "server")
    sh(server, f"echo '# edited by hand' >> {NGINX_SITE}")
    sh(server, "dpkg -r spawn-fcgi")
    sh(server, "echo stray > /srv/webbench/jail/extra")
    proc = wbl("audit", "--check", "--out", root, "--json")
    assert proc.returncode == 1, proc.stderr
    drifts = json.loads(proc.stdout)
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
    after = wbl("audit", "--check", "--out", root, "--json")
    assert after.returncode == 0 and json.loads(after.stdout) == [], after.stdout


def test_pyinfra_repairs_drift_on_the_ansible_lab_too(ansible_lab, audits_root):
    inventory, _ = ansible_lab
    server = by_group(inventory, "server")
    sh(server, "dpkg -r spawn-fcgi && touch /srv/webbench/jail/.hidden")
    proc = wbl("audit", "--check", "--out", str(audits_root / "ansible"), "--json")
    assert proc.returncode == 1
    assert any(d["what"] == "jail..hidden" for d in json.loads(proc.stdout)), proc.stdout
    repair = wbl("provision", "--json")
    assert repair.returncode == 0, repair.stderr
    assert json.loads(repair.stdout)["hosts"]["lab-server"]["changed"] >= 2
    after = wbl("audit", "--check", "--out", str(audits_root / "ansible"), "--json")
    assert after.returncode == 0 and json.loads(after.stdout) == [], after.stdout


def test_a_run_stops_the_services_it_started_and_its_audit_holds_its_build(ansible_lab, earlier_run):
    """The session's `earlier_run`, on this lab (the login lab's tests check the lab rebuilt after
    it): last in this file, so that the services the run starts are its own to stop."""
    manifest = json.loads((earlier_run / "manifest.json").read_text())
    # The run stopped the services it started before its audit, which holds its build.
    assert manifest["services"] == {
        "started": ["redis", "backend"],
        "stopped": ["redis", "backend"],
        "kept": [],
    }
    server = json.loads((earlier_run / "audit.json").read_text())["hosts"]["lab-server"]
    assert server["binaries"]["/opt/webbench/build/go-http/go-http"]["sha256"]
    assert [p["port"] for p in server["ports"]] == [22]
