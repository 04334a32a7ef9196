"""Both engines render every config file to the same bytes: each template task of the Ansible roles
is rendered through Ansible's own templating (as its template module does, with the role defaults
unresolved, the task's vars and its loop items) and through the pyinfra engine's context (the
defaults resolved by webbench_lab.defaults, the loop item as put_template gets it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from webbench_lab.apps import systems
from webbench_lab.defaults import host_vars, raw_defaults
from webbench_lab.paths import ROLES
from webbench_lab.templating import render

# The inventory of a host that gets every role, with an apt proxy so that its file is rendered.
INVENTORY_VARS = {"common_apt_proxy": "http://198.18.0.1:3149", "inventory_hostname": "lab-server"}
# What Ansible's template module passes to its templar (ansible.plugins.action.template).
TEMPLATE_MODULE = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


def _trusted(value: Any) -> Any:
    """Role defaults and task vars come from files Ansible trusts as templates."""
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


def ansible_render(source: Path, variables: dict[str, Any]) -> str:
    templar = Templar(loader=DataLoader(), variables=_trusted(variables))
    text = trust_as_template(source.read_text())
    return str(templar.template(text, escape_backslashes=False, overrides=TEMPLATE_MODULE))


def template_tasks() -> list[tuple[str, dict[str, Any]]]:
    """(role, task) for every ansible.builtin.template task of the roles."""
    found = []
    for tasks in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in yaml.safe_load(tasks.read_text()) or []:
            if "ansible.builtin.template" in task:
                found.append((tasks.parent.parent.name, task))
    return found


def _cases() -> list[Any]:
    cases = []
    sites = systems.nginx_sites(host_vars(INVENTORY_VARS))
    for role, task in template_tasks():
        items = sites if "loop" in task else [None]
        for item in items:
            label = f"{role}:{task['ansible.builtin.template']['src']}"
            cases.append(pytest.param(role, task, item, id=f"{label}:{item['dest'] if item else ''}"))
    return cases


@pytest.mark.parametrize(("role", "task", "item"), _cases())
def test_both_engines_render_the_same_bytes(role, task, item):
    source = ROLES / role / "templates" / task["ansible.builtin.template"]["src"]
    # Ansible: the role defaults as written, the inventory, the loop item and the task's vars.
    ansible_vars = {**raw_defaults(), **INVENTORY_VARS, "nginx_fcgi_sites": {"lab-server": []}}
    if item is not None:
        ansible_vars["item"] = item
    ansible_vars.update(task.get("vars", {}))
    ansible_text = ansible_render(source, ansible_vars)
    # pyinfra: the host's resolved variables and, in a loop, the item's fields (deploys/_ops.py).
    extra = {k: v for k, v in (item or {}).items() if k != "dest"}
    pyinfra_text = render(str(source.resolve().relative_to(source.resolve().parents[1])), **{
        **host_vars(INVENTORY_VARS), **extra})  # fmt: skip
    assert pyinfra_text == ansible_text
    assert "{{" not in pyinfra_text  # nothing left unresolved on either side


def test_a_changed_lab_root_moves_every_path_in_both_engines():
    moved = host_vars({"common_lab_root": "/srv/lab"})
    for key in ("apps_root", "apps_build_root", "apps_agent", "python_stack_venv", "go_toolchain_root",
                "loadgen_k6_path"):  # fmt: skip
        assert moved[key].startswith("/srv/lab/"), key
    assert moved["go_toolchain_goproxy"] == "file:///srv/lab/goproxy"
    templar = Templar(
        loader=DataLoader(), variables=_trusted({**raw_defaults(), "common_lab_root": "/srv/lab"})
    )
    for key in ("apps_agent", "loadgen_k6_path", "go_toolchain_goproxy"):
        assert templar.template(trust_as_template("{{ " + key + " }}")) == moved[key]


def test_the_jail_allow_list_is_one_rule_in_both_engines():
    """The role prefixes the control machine's list with the jail, as the pyinfra deploy does."""
    from webbench_lab.provision.deploys.chroot_jail import allowed_entries

    tasks = yaml.safe_load((ROLES / "chroot_jail" / "tasks" / "main.yml").read_text())
    (remove,) = [t for t in tasks if "difference(chroot_jail_paths)" in str(t.get("loop"))]
    allowed = allowed_entries(["gin", "go-http"])
    assert allowed == ["gin", "gin/gin", "go-http", "go-http/go-http"]
    variables = {**raw_defaults(), "chroot_jail_allowed": allowed, **remove["vars"]}
    paths = Templar(loader=DataLoader(), variables=_trusted(variables)).template(
        trust_as_template("{{ chroot_jail_paths }}")
    )
    jail = host_vars({})["chroot_jail_dir"]
    assert list(paths) == [f"{jail}/{entry}" for entry in allowed]


def test_the_unpack_script_is_one_text_for_both_engines():
    """The role runs the template lookup of the script the pyinfra deploy renders."""
    task_text = (ROLES / "common" / "tasks" / "bundle.yml").read_text()
    assert "lookup('ansible.builtin.template', 'unpack.sh.j2')" in task_text
    link = ROLES / "common" / "templates" / "unpack.sh.j2"
    assert link.is_symlink() and link.resolve().name == "unpack.sh.j2"
    variables = {"common_bundle_target": "/opt/x/abc", "common_bundle_upload": "/opt/x/.b.tar"}
    ours = render("host/unpack.sh.j2", **variables)
    assert ours == ansible_render(link, variables)
    assert "mv /opt/x/abc.partial /opt/x/abc && rm -f /opt/x/.b.tar" in ours


def test_which_host_gets_which_role_is_written_once():
    """site.yml runs each role where lab_roles (provision/roles.py) names it, in ORDER; the pyinfra
    site() has one deploy per role; the audit checks the packages of the same roles."""
    import ast
    import inspect

    from webbench_lab.provision import roles
    from webbench_lab.provision.deploys import site

    play = yaml.safe_load((ROLES.parent / "playbooks" / "site.yml").read_text())[0]
    assert [r["role"] for r in play["roles"]] == list(roles.ORDER)
    for entry in play["roles"]:
        assert entry["when"] == f"'{entry['role']}' in lab_roles[inventory_hostname]"
    tree = ast.parse(inspect.getsource(site.site))
    (table,) = [n for n in ast.walk(tree) if isinstance(n, ast.Dict)]
    assert [k.value for k in table.keys if isinstance(k, ast.Constant)] == list(roles.ORDER)
    assert sorted(p.name for p in ROLES.iterdir() if (p / "tasks").is_dir()) == sorted(roles.ORDER)
    assert roles.roles_of(["generator"], runs_backend=True) == [
        "common",
        "go_toolchain",
        "apps",
        "backend",
        "loadgen",
    ]
    assert roles.roles_of(["server"])[-4:] == ["python_stack", "nginx_fcgi", "redis", "chroot_jail"]
    assert roles.roles_of(["nope"]) == ["common", "go_toolchain", "apps"]
