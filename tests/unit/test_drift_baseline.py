"""A drift check that does not cry wolf, on the audit a real bench run stored (tests/fixtures/results/
lab-a/audit.json: go-http built and jailed, Redis and the upstream API listening): runtime state is
no drift, a rebuilt lab (other SSH host keys) is not compared with the old lab's audit, a hand edit
is drift, and `--baseline` pins a baseline (a bad one is one line, exit 2)."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from webbench_lab.audit import baseline, collect, drift, runtime
from webbench_lab.audit.diff import ABSENT, Drift, compare
from webbench_lab.audit.report import render_markdown, render_runtime
from webbench_lab.cli import main as cli
from webbench_lab.errors import UserError

from .fakehost import lab_host, lab_inventory

BENCH_AUDIT = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "lab-a" / "audit.json"
NGINX_SITE = "/etc/webbench/nginx/webpy-nginx-L1.conf"
GO_HTTP = "/opt/webbench/build/go-http/go-http"
PROVISIONED = ["/opt/webbench/build/backend/backend", "/opt/webbench/build/k6/k6", "/usr/local/bin/k6"]


def inventory():
    """The local lab's two hosts, at the addresses the fixture's audit has."""
    gen = lab_host("lab-generator", ("generator",), "198.19.0.1")
    srv = lab_host("lab-server", ("server",), "198.19.0.2", cpus="1")
    return lab_inventory(
        dataclasses.replace(gen, address="198.18.0.2"), dataclasses.replace(srv, address="198.18.0.3")
    )


def bench_audit() -> dict:
    """What a bench run stored at its end (schema 1: no runtime rule recorded)."""
    return json.loads(BENCH_AUDIT.read_text())


def with_rules(audit: dict) -> dict:
    """The audit as today's collector stores it: each host with its runtime rule."""
    for name, host in audit["hosts"].items():
        host[runtime.RULE] = collect.runtime_rule(inventory().hosts[name])
    return audit


def fresh_audit(machines: str = "rebuilt") -> dict:
    """The same lab freshly provisioned, as today's collector records it: nothing built, nothing
    running but sshd; `machines="rebuilt"`: new machines (new host keys), else the same ones."""
    audit = with_rules(bench_audit())
    audit["collected_at"] = "2099-01-01T00:00:00Z"
    for name, host in audit["hosts"].items():
        host["binaries"] = {p: i for p, i in host["binaries"].items() if p in PROVISIONED}
        if host["jail"] is not None:  # the generator has no jail: null
            host["jail"] = [e for e in host["jail"] if e["path"] == "."]
        host["ports"] = [p for p in host["ports"] if p["port"] == 22]
        if machines == "rebuilt":
            host["ssh_host_keys"] = {"/etc/ssh/ssh_host_ed25519_key.pub": f"SHA256:new-{name}"}
    return audit


def store(root: Path, name: str, audit: dict) -> Path:
    path = root / name / "audit.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(audit))
    return path


# --- runtime state -----------------------------------------------------------------------------------


def test_the_runtime_rule_names_what_provisioning_installs_and_what_app_build_jails():
    inv = inventory()
    rule = collect.runtime_rule(inv.hosts["lab-server"])
    assert rule["provisioned_binaries"] == PROVISIONED
    assert {"go-http", "go-http/go-http"} <= set(rule["built_jail_entries"])
    assert "." not in rule["built_jail_entries"]
    # The rule provisioning keeps the jail by: the same list.
    from webbench_lab.apps.systems import all_systems
    from webbench_lab.provision.deploys.chroot_jail import allowed_entries

    jailed = sorted(s.name for s in all_systems().values() if s.chroot)
    assert allowed_entries(jailed) == rule["built_jail_entries"]


def test_a_bench_runs_audit_splits_into_setup_and_runtime():
    audit = bench_audit()
    rules = fresh_audit()["hosts"]
    setup, state = runtime.split(audit["hosts"]["lab-server"], rules["lab-server"][runtime.RULE])
    assert list(state["binaries"]) == [GO_HTTP] and setup["binaries"] == {}
    assert [e["path"] for e in state["jail"]] == ["go-http", "go-http/go-http"]
    assert [e["path"] for e in setup["jail"]] == ["."]
    assert [(p["port"], p["process"]) for p in state["ports"]] == [(22, "sshd"), (6379, "redis-server")]
    assert "ports" not in setup and runtime.RULE not in setup and setup["configs"][NGINX_SITE]
    gen_setup, gen_state = runtime.split(
        audit["hosts"]["lab-generator"], rules["lab-generator"][runtime.RULE]
    )
    assert sorted(gen_setup["binaries"]) == PROVISIONED and gen_state["binaries"] == {}
    assert [p["port"] for p in gen_state["ports"]] == [22, 9100]
    # Without any rule, nothing says whose a binary is: only the ports are runtime.
    plain, ports_only = runtime.split(audit["hosts"]["lab-server"])
    assert list(plain["binaries"]) == [GO_HTTP] and len(ports_only["ports"]) == 2


def test_what_a_bench_run_left_is_no_drift_of_the_same_machines():
    """The bench run's audit against the lab after `lab down`-free re-provisioning: its go-http build,
    its jail entries and the Redis and API ports are runtime, so nothing differs."""
    assert compare(bench_audit(), fresh_audit(machines="same")) == []
    # Not vacuous: the raw audits differ exactly there.
    old, new = bench_audit()["hosts"]["lab-server"], fresh_audit("same")["hosts"]["lab-server"]
    assert old["binaries"] != new["binaries"] and old["jail"] != new["jail"] and old["ports"] != new["ports"]


def test_a_hand_edit_a_lost_provisioned_binary_and_a_stray_jail_file_are_drift():
    current = fresh_audit(machines="same")
    server, generator = current["hosts"]["lab-server"], current["hosts"]["lab-generator"]
    server["configs"][NGINX_SITE] = "e" * 64
    server["jail"].append({"path": "extra", "type": "file", "owner": "root", "group": "root", "mode": "0644"})
    generator["binaries"]["/usr/local/bin/k6"] = {"sha256": None, "resolved": None}
    server["ports"].append({"address": "0.0.0.0", "port": 8080, "proto": "tcp", "process": "nc"})
    whats = [(d.host, d.what, d.found) for d in compare(bench_audit(), current)]
    assert whats == [
        ("lab-generator", "binaries./usr/local/bin/k6.resolved", "null"),
        ("lab-generator", "binaries./usr/local/bin/k6.sha256", "null"),
        ("lab-server", f"configs.{NGINX_SITE}", "e" * 64),
        ("lab-server", "jail.extra", "group=root mode=0644 owner=root type=file"),
    ]


def test_audit_md_shows_runtime_apart_from_the_setup():
    text = render_markdown(with_rules(bench_audit()))
    setup, _, rest = text.partition("## lab-server")[2].partition("### Runtime")
    assert GO_HTTP not in setup and "| 127.0.0.1 | 6379 | tcp | redis-server |" not in setup
    assert GO_HTTP in rest and "| 127.0.0.1 | 6379 | tcp | redis-server |" in rest
    assert "| go-http/go-http | file | root:root | 0555 |" in rest
    assert "### SSH host keys" in setup and "SHA256:QmdVlUXs" in setup


def test_render_runtime_lists_each_hosts_runtime_state():
    lines = render_runtime(with_rules(bench_audit())).splitlines()
    assert lines[0].startswith("Runtime, not compared")
    assert "| lab-generator | listening | 198.19.0.1:9100/tcp | backend |" in lines
    assert "| lab-server | built binary | " + GO_HTTP + " | " in "\n".join(lines)
    assert sum("lab-server | built, in the jail" in line for line in lines) == 2


# --- the baseline ------------------------------------------------------------------------------------


def test_a_rebuilt_lab_is_not_compared_with_the_old_labs_audit(tmp_path):
    path = store(tmp_path / "results", "20261125T144513Z-web_bench_2011", bench_audit())
    current = fresh_audit(machines="rebuilt")
    chosen = baseline.choose(
        current, baseline.stored(inventory(), [tmp_path / "audits", tmp_path / "results"])
    )
    assert chosen.audit is None and chosen.path is None
    assert chosen.line.startswith("baseline: none: the stored audits of these hosts are of other machines")
    assert (
        "other SSH host keys on lab-generator, lab-server" in chosen.line
        and str(path.parent.name) in chosen.line
    )
    assert chosen.line.endswith(baseline.DESIRED_ONLY) and "\n" not in chosen.line
    # Not vacuous: compared, the old lab's runtime state would not be the cause; its host keys are.
    assert baseline.other_machines(bench_audit(), current) == ["lab-generator", "lab-server"]


def test_the_last_audit_of_the_same_machines_is_the_baseline_even_when_older(tmp_path):
    older = fresh_audit(machines="same")
    older["collected_at"] = "2026-11-25T14:00:00Z"
    same = store(tmp_path / "audits", "20261125T140000Z-local", older)
    other = bench_audit()
    for host in other["hosts"].values():
        host["ssh_host_keys"] = {"/etc/ssh/ssh_host_ed25519_key.pub": "SHA256:an-older-lab"}
    store(tmp_path / "results", "20261125T144513Z-web_bench_2011", other)  # newer, other machines
    moved = copy.deepcopy(older)
    moved["hosts"]["lab-server"]["address"] = "198.18.0.9"
    store(tmp_path / "audits", "20261126T000000Z-elsewhere", moved)  # newest, other addresses
    (tmp_path / "audits" / "broken").mkdir()
    (tmp_path / "audits" / "broken" / "audit.json").write_bytes(b"\xff{")
    current = fresh_audit(machines="same")
    current["hosts"]["lab-server"]["ssh_host_keys"] = older["hosts"]["lab-server"]["ssh_host_keys"]
    found = baseline.stored(inventory(), [tmp_path / "audits", tmp_path / "results"])
    assert [p.parent.name for p, _ in found] == ["20261125T144513Z-web_bench_2011", "20261125T140000Z-local"]
    chosen = baseline.choose(current, found)
    assert chosen.path == same and chosen.audit == older
    assert chosen.line == f"baseline: the last audit of these machines (same SSH host keys): {same}"


def test_no_stored_audit_says_so():
    chosen = baseline.choose(fresh_audit(), [])
    assert chosen.audit is None
    assert chosen.line == (
        "baseline: none: no stored audit of these hosts (`webbench-lab audit` takes one); "
        + baseline.DESIRED_ONLY
    )


def test_a_host_without_keys_is_never_the_same_machine():
    current = fresh_audit(machines="same")
    current["hosts"]["lab-server"]["ssh_host_keys"] = {}
    assert baseline.other_machines(fresh_audit(machines="same"), current) == ["lab-server"]


def test_a_pinned_baseline_is_used_whatever_machines_it_is_of(tmp_path):
    path = store(tmp_path, "run", bench_audit())
    chosen = baseline.pinned(fresh_audit(), *baseline.load(path.parent))  # its directory will do
    assert chosen.audit == bench_audit() and chosen.path == path
    assert chosen.line == (
        f"baseline: {path} (given with --baseline; other machines: other SSH host keys on "
        "lab-generator, lab-server)"
    )
    same = baseline.pinned(fresh_audit("same"), path, bench_audit())
    assert same.line == f"baseline: {path} (given with --baseline)"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "missing.json: cannot read: No such file or directory"),
        (b"\xff\xfe{}", "not UTF-8 (byte 0)"),
        (b"{'hosts': 1}", "invalid JSON at line 1, column 2"),
        (b'{"hosts": []}', 'not a lab audit (no "hosts" object of host audits)'),
        (b"[1, 2]", 'not a lab audit (no "hosts" object of host audits)'),
    ],
)
def test_a_bad_baseline_is_one_line_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "missing.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError) as raised:
        baseline.load(path)
    assert str(raised.value).startswith(f"--baseline {path}: ") and fragment in str(raised.value)
    assert str(raised.value).endswith("give an audit.json written by `webbench-lab audit` or by a bench run")


def test_the_command_line_refuses_a_bad_baseline_before_touching_any_host(tmp_path):
    bad = tmp_path / "audit.json"
    bad.write_text("not json")
    for args in (["--check", "--baseline", str(bad)], ["--baseline", str(bad)]):
        # No inventory exists: the baseline is read (and refused) first.
        proc = subprocess.run(
            [sys.executable, "-m", "webbench_lab", "audit", *args, "-i", str(tmp_path / "none.yml")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        if "--check" in args:
            assert line.startswith(f"webbench-lab: --baseline {bad}: invalid JSON at line 1"), line
        else:
            assert line.startswith("webbench-lab: --baseline: only with --check"), line


# --- the whole check ---------------------------------------------------------------------------------


@pytest.fixture
def checked(monkeypatch, tmp_path, write_inventory):
    """`audit --check` through the command line, with the engines' checks, the collection and the
    stored audits faked (so the inventory's own host names do not matter): the engines find
    `state["engines"]`, the audit now is `state["current"]`, the stored ones `state["stored"]`."""
    state = {"current": fresh_audit(), "engines": []}
    monkeypatch.setattr(
        drift,
        "engine_check",
        lambda engine, inv: [d for d in state["engines"] if d.source.startswith(engine)],
    )
    monkeypatch.setattr(collect, "collect", lambda inv: copy.deepcopy(state["current"]))
    monkeypatch.setattr(drift.baseline, "stored", lambda inv, roots: state.get("stored", []))
    state["inventory"] = str(write_inventory())

    def run(*args: str) -> int:
        return cli.main(["audit", "--check", *args, "-i", state["inventory"]])

    state["run"] = run
    return state


def test_check_after_a_rebuild_uses_the_desired_state_only_and_is_clean(checked, capsys, tmp_path):
    checked["stored"] = [(tmp_path / "old" / "audit.json", bench_audit())]
    assert checked["run"]() == 0
    captured = capsys.readouterr()
    assert "baseline: none: the stored audits of these hosts are of other machines" in captured.err
    assert captured.err.strip().endswith("no drift")
    assert (
        "No drift" in captured.out and "| lab-server | listening | 198.18.0.3:22/tcp | sshd |" in captured.out
    )


def test_check_names_a_hand_edit_against_the_same_machines_and_exits_1(checked, capsys, tmp_path):
    checked["current"] = fresh_audit(machines="same")
    checked["current"]["hosts"]["lab-server"]["configs"][NGINX_SITE] = "e" * 64
    checked["stored"] = [(tmp_path / "run" / "audit.json", bench_audit())]
    checked["engines"] = [
        Drift("lab-server", "pyinfra check", f"Render {NGINX_SITE}", "as provisioned", "would change")
    ]
    assert checked["run"]("--json") == 1
    captured = capsys.readouterr()
    drifts = json.loads(captured.out)
    assert [(d["source"], d["what"]) for d in drifts] == [
        ("pyinfra check", f"Render {NGINX_SITE}"),
        ("last audit", f"configs.{NGINX_SITE}"),
    ]
    assert "baseline: the last audit of these machines (same SSH host keys)" in captured.err


def test_check_with_a_pinned_baseline_compares_with_it(checked, capsys, tmp_path):
    path = store(tmp_path, "pinned", fresh_audit(machines="same"))
    checked["current"] = fresh_audit(machines="same")
    del checked["current"]["hosts"]["lab-server"]["packages"]["spawn-fcgi"]
    assert checked["run"]("--baseline", str(path), "--json") == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [
        Drift("lab-server", "baseline", "packages.spawn-fcgi", "1.6.4-2", ABSENT).as_dict()
    ]
    assert f"baseline: {path} (given with --baseline)" in captured.err


def test_the_audit_is_taken_before_the_engines_checks_widen_the_hosts(checked, monkeypatch, capsys):
    """An engine's check lifts a local host's cpuset and CPU limit while it runs: an audit taken
    meanwhile would name that as drift (seen as "3 drift(s)", cores, cpuset and limit, in make test)."""
    events: list[str] = []

    def engine(engine, inv):
        events.append(f"check {engine} starts")
        return []

    def collected(inv):
        events.append("audit")
        return copy.deepcopy(checked["current"])

    monkeypatch.setattr(drift, "engine_check", engine)
    monkeypatch.setattr(collect, "collect", collected)
    assert checked["run"]() == 0
    assert events[0] == "audit" and sorted(events[1:]) == ["check ansible starts", "check pyinfra starts"]
