"""One desired state for two engines: role defaults, shared templates, strict SSH, check-mode output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.test_cli import assert_one_line_exit_2, run_cli
from webbench_lab import defaults
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.paths import PLAYBOOKS, ROLES, TEMPLATES
from webbench_lab.provision import ansible_engine

ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if p.is_dir())


def test_every_role_has_the_galaxy_layout_and_prefixed_defaults():
    assert ROLE_NAMES == [
        "apps", "backend", "chroot_jail", "common", "go_toolchain", "loadgen", "nginx_fcgi",
        "python_stack", "redis",
    ]  # fmt: skip
    for role in ROLE_NAMES:
        for part in ("defaults", "tasks", "meta"):
            assert (ROLES / role / part / "main.yml").is_file(), f"{role}/{part}/main.yml"
        keys = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
        assert keys and all(k.startswith(f"{role}_") for k in keys), role


def test_every_role_template_is_a_link_into_templates_so_none_is_written_twice():
    links = sorted(ROLES.glob("*/templates/*"))
    assert links
    for link in links:
        assert link.is_symlink(), link
        assert link.resolve().is_relative_to(TEMPLATES), link
        # ... and each is used by its role (a template task or a template lookup).
        tasks = "".join(t.read_text() for t in (link.parents[1] / "tasks").glob("*.yml"))
        assert link.name in tasks, link


def test_playbooks_use_every_role_and_fqcn_modules():
    site = yaml.safe_load((PLAYBOOKS / "site.yml").read_text())
    assert sorted(r["role"] for r in site[0]["roles"]) == ROLE_NAMES
    for tasks in ROLES.glob("*/tasks/*.yml"):
        for task in yaml.safe_load(tasks.read_text()):
            modules = [k for k in task if "." in k]
            assert modules or "block" in task, (tasks, task.get("name"))
            assert all(m.startswith("ansible.builtin.") for m in modules), (tasks, modules)


def test_defaults_merge_refuses_a_variable_defined_by_two_roles(tmp_path, monkeypatch):
    for role in ("one", "two"):
        (tmp_path / role / "defaults").mkdir(parents=True)
        (tmp_path / role / "defaults" / "main.yml").write_text("shared_port: 1\n")
    monkeypatch.setattr(defaults, "ROLES", tmp_path)
    defaults.raw_defaults.cache_clear()
    try:
        with pytest.raises(UserError, match="'shared_port' is already defined by role one"):
            defaults.shared_defaults()
    finally:
        defaults.raw_defaults.cache_clear()


def test_inventory_vars_override_role_defaults(write_inventory, ssh_files):
    from tests.conftest import valid_inventory

    data = valid_inventory(*ssh_files)
    data["all"]["vars"]["nginx_fcgi_levels"] = [1, 8]
    inv = load_inventory(write_inventory(data))
    v = defaults.host_vars(inv.hosts["srv1"].vars)
    assert v["nginx_fcgi_levels"] == [1, 8] and v["redis_port"] == 6379


def test_ansible_gets_strict_host_keys_whatever_the_inventory_says(write_inventory, ssh_files):
    from tests.conftest import valid_inventory
    from webbench_lab.provision.prepare import Artifacts

    data = valid_inventory(*ssh_files)
    data["all"]["vars"]["ansible_ssh_common_args"] = "-o StrictHostKeyChecking=no"
    inv = load_inventory(write_inventory(data))
    bundle = Artifacts(
        toolchain=None, wheels=_Bundle(), sources=_Bundle(), goproxy=_Bundle(), k6=Path("/k6"),
        backend_hosts=["gen1"], jailed=["gin", "go-http"], nginx_sites={"srv1": []},
    )  # fmt: skip
    bundle = _with_toolchain(bundle)
    extra = ansible_engine.extravars(inv, bundle)
    assert "StrictHostKeyChecking=yes" in extra["ansible_ssh_common_args"]
    assert "lab_ssh_known_hosts[inventory_hostname]" in extra["ansible_ssh_common_args"]
    assert extra["lab_ssh_known_hosts"] == {"gen1": str(ssh_files[1]), "srv1": str(ssh_files[1])}
    assert extra["backend_build"]["gen1"]["record_path"] == "/opt/webbench/build/backend/result.json"
    assert ansible_engine.envvars()["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_ansible_becomes_root_where_pyinfra_and_the_driver_do(write_inventory, ssh_files):
    """A non-root ansible_user without ansible_become: pyinfra and fabric use sudo, so Ansible must
    become too (it would not by itself); ansible_become: false is kept."""
    from tests.conftest import valid_inventory
    from webbench_lab.provision.prepare import Artifacts

    data = valid_inventory(*ssh_files)
    data["all"]["vars"]["ansible_user"] = "labadmin"
    data["all"]["children"]["generator"]["hosts"]["gen1"]["ansible_become"] = False
    inv = load_inventory(write_inventory(data))
    bundle = Artifacts(
        toolchain=None, wheels=_Bundle(), sources=_Bundle(), goproxy=_Bundle(), k6=Path("/k6"),
        backend_hosts=["gen1"], jailed=[], nginx_sites={"srv1": []},
    )  # fmt: skip
    extra = ansible_engine.extravars(inv, _with_toolchain(bundle))
    assert extra["lab_become"] == {"gen1": False, "srv1": True}
    assert extra["lab_become"] == {name: h.become for name, h in inv.hosts.items()}
    assert extra["ansible_become"] == "{{ lab_become[inventory_hostname] }}"


def test_missing_ansible_playbook_is_bad_input(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="ansible-playbook: not found"):
        ansible_engine.ansible_playbook()


def test_missing_ansible_playbook_through_the_cli(write_inventory, tmp_path):
    """A Python without ansible-playbook beside it or on PATH: one line, exit 2, before any SSH."""
    venv_python = Path(sys.executable)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "python3").symlink_to(venv_python)
    site = next(p for p in sys.path if p.endswith("site-packages"))
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PATH": str(fake_bin), "PYTHONPATH": f"{repo}:{site}"}
    proc = subprocess.run(
        [str(fake_bin / "python3"), "-m", "webbench_lab", "provision", "--engine", "ansible",
         "-i", str(write_inventory())],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert_one_line_exit_2(proc, "ansible-playbook: not found")


def test_inventory_without_the_groups_the_playbooks_need(write_inventory, ssh_files):
    from tests.conftest import valid_inventory

    data = valid_inventory(*ssh_files)
    del data["all"]["children"]["server"]
    proc = run_cli("provision", "--engine", "ansible", "-i", str(write_inventory(data)))
    assert_one_line_exit_2(proc, "group 'server' has no host")


@pytest.mark.parametrize(
    ("diff", "expected", "found"),
    [
        ({"prepared": "The following NEW packages will be installed:\n  spawn-fcgi\n0 upgraded"},
         "installed", "not installed: spawn-fcgi"),
        ({"before": "a\nb\n", "after": "a\n"}, "line 2: (no line)", "line 2: b"),
        ({"before": {"path": "/j/x", "state": "file"}, "after": {"path": "/j/x", "state": "absent"}},
         "state: absent", "state: file"),
    ],
)  # fmt: skip
def test_check_mode_diffs_become_expected_and_found(diff, expected, found):
    summary = ansible_engine._diff_summary({"diff": [diff]})
    assert (summary["expected"], summary["found"]) == (expected, found)


class _Bundle:
    tarball = Path("/tmp/x.tar")
    digest = "abc"


def _with_toolchain(bundle):
    import dataclasses

    class _Toolchain:
        zip_path = Path("/tmp/go.zip")

    return dataclasses.replace(bundle, toolchain=_Toolchain())


def test_audit_looks_at_what_each_group_is_given(write_inventory):
    from webbench_lab.audit.collect import collector_command, host_spec

    inv = load_inventory(write_inventory())
    gen, srv = host_spec(inv.hosts["gen1"]), host_spec(inv.hosts["srv1"])
    assert "siege" in gen["packages"] and "nginx" not in gen["packages"]
    assert {"nginx", "spawn-fcgi", "redis-server", "python3-venv"} <= set(srv["packages"])
    assert gen["siege_rc"] == "/etc/webbench/siegerc" and srv["jail"] == "/srv/webbench/jail"
    assert srv["venv"] == "/opt/webbench/venv" and gen["venv"] is None
    assert "/etc/webbench" in srv["config_dirs"] and srv["bench_address"] == "198.19.0.2"
    # The collector travels in the command line (nothing is copied to the host): run it here.
    local = {**srv, "app_user": "nobody", "run_as": [], "bench_address": "127.0.0.1", "jail": None}
    proc = subprocess.run(["sh", "-c", collector_command(local)], capture_output=True, text=True, timeout=120)
    answer = json.loads(proc.stdout)
    assert answer["system"]["kernel"] == os.uname().release and answer["network"]["bench_interface"] == "lo"


def test_runner_events_count_host_operations_not_bookkeeping():
    events = ansible_engine._Events(check=True)

    def ev(kind, action, res, task="t", role="r"):
        data = {"host": "srv1", "task": task, "role": role, "task_action": action, "res": res}
        events.handle({"event": kind, "event_data": data})

    ev("runner_on_ok", "ansible.builtin.include_role", {"changed": False})
    ev("runner_on_ok", "ansible.builtin.assert", {"changed": False})
    ev("runner_on_ok", "ansible.builtin.file", {"changed": False})
    ev("runner_on_ok", "ansible.builtin.file", {"changed": False, "skipped": True})
    site = {"changed": True, "_ansible_item_label": "/etc/webbench/nginx/a.conf",
            "diff": [{"before": "x\n", "after": "y\n"}]}  # fmt: skip
    ev(
        "runner_on_ok",
        "ansible.builtin.template",
        {"changed": True, "results": [site, {"changed": False}]},
        "site",
    )
    ev("runner_on_failed", "ansible.builtin.apt", {"msg": "no such package\nmore"}, "apt")
    host = events.hosts["srv1"]
    assert (host.ops, host.changed) == (3, 1)
    assert host.details == [
        {"what": "r: site [/etc/webbench/nginx/a.conf]", "expected": "line 1: y", "found": "line 1: x"}
    ]
    assert host.failed == ["r: apt: no such package"]


class _Stop(Exception):
    pass


def test_one_go_toolchain_for_every_host_the_inventory_may_choose(write_inventory, ssh_files, monkeypatch):
    """The toolchain prepared is the inventory's (not the role default), and the same for all."""
    from tests.conftest import valid_inventory
    from webbench_lab.provision import artifacts, prepare

    asked = []

    def fake_toolchain(version, module_version, h1, _step):
        asked.append((version, module_version, h1))
        raise _Stop

    monkeypatch.setattr(artifacts, "go_toolchain", fake_toolchain)
    data = valid_inventory(*ssh_files)
    pins = {"go_toolchain_version": "1.99.1", "go_toolchain_module_version": "v0.0.1-go1.99.1.linux-amd64",
            "go_toolchain_h1": "h1:x"}  # fmt: skip
    data["all"]["vars"].update(pins)
    with pytest.raises(_Stop):
        prepare.prepare(load_inventory(write_inventory(data)))
    assert asked == [tuple(pins.values())]
    data["all"]["children"]["server"]["hosts"]["srv1"]["go_toolchain_version"] = "1.98.0"
    with pytest.raises(UserError, match=r"go_toolchain_version .* differ between hosts"):
        prepare.prepare(load_inventory(write_inventory(data)))
    assert len(asked) == 1  # refused before anything was downloaded


def test_what_lab_up_prepares_meanwhile_uses_the_roles_pins_and_a_failure_only_says_so(monkeypatch, capsys):
    """`lab up` fills the artifact cache while its hosts boot (artifacts.ahead): with the pins every
    host gets by default; a failure there is one line, and `provision` tries again on its own."""
    from webbench_lab.errors import LabFailure
    from webbench_lab.provision import artifacts

    asked: list[tuple[str, ...]] = []
    monkeypatch.setattr(artifacts, "shared", lambda pins, say: asked.append(pins))
    artifacts.ahead()
    expected = tuple(defaults.host_vars({})[k] for k in artifacts.PIN_KEYS)
    assert asked == [expected] and expected[0].startswith("1.")
    assert "ready in the cache" in capsys.readouterr().err

    def fails(pins, say):
        raise LabFailure("go build of k6 failed: no space left on device")

    monkeypatch.setattr(artifacts, "shared", fails)
    artifacts.ahead()  # no exception
    out = capsys.readouterr().err
    assert "no space left on device" in out and "`provision` tries again" in out

    def times_out(pins, say):
        raise subprocess.TimeoutExpired(["go", "build"], 1800)

    monkeypatch.setattr(artifacts, "shared", times_out)
    artifacts.ahead()  # not a lab up that fails after building the lab
    assert "timed out" in capsys.readouterr().err


def test_k6_is_built_again_for_another_toolchain(monkeypatch, tmp_path):
    """A cached k6 is keyed by its sources and the toolchain that built it: `lab up` builds it with
    the default pins, and an inventory that pins another toolchain must not get that build."""
    from types import SimpleNamespace

    from webbench_lab.provision import artifacts

    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path))
    builds: list[str] = []

    def fake_go(go, args, cwd, gomod, flags, **env):
        builds.append(str(go))
        Path(args[args.index("-o") + 1]).write_text("k6")
        return SimpleNamespace(returncode=0, stderr="")

    monkeypatch.setattr(artifacts, "_run_go", fake_go)
    one = artifacts.k6_binary(tmp_path / "cache/go/1.26.11/bin/go", "1.26.11", lambda m: None)
    again = artifacts.k6_binary(tmp_path / "cache/go/1.26.11/bin/go", "1.26.11", lambda m: None)
    other = artifacts.k6_binary(tmp_path / "cache/go/1.27.0/bin/go", "1.27.0", lambda m: None)
    assert one == again and other != one and other.is_file()
    assert len(builds) == 2
