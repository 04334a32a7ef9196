"""The inventory is read through Ansible's parser and every bad input is one clear UserError."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import valid_inventory
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import load_inventory
from webbench_lab.paths import INVENTORY_DIR


def test_valid_inventory_loads_hosts_groups_and_fields(write_inventory, ssh_files):
    key, known = ssh_files
    inv = load_inventory(write_inventory())
    assert set(inv.hosts) == {"gen1", "srv1"}
    srv = inv.hosts["srv1"]
    assert srv.groups == ("server",)
    assert (srv.address, srv.port, srv.user) == ("198.18.0.3", 2222, "root")
    assert srv.bench_address == "198.19.0.2"
    assert srv.cpus == "1"
    assert srv.key_file == key and srv.known_hosts == known
    assert srv.become is False
    assert [h.name for h in inv.group("generator")] == ["gen1"]


def test_group_vars_reach_hosts_through_ansible(write_inventory, ssh_files):
    data = valid_inventory(*ssh_files)
    data["all"]["children"]["server"]["vars"] = {"go_toolchain_version": "9.9.9"}
    inv = load_inventory(write_inventory(data))
    assert inv.hosts["srv1"].vars["go_toolchain_version"] == "9.9.9"
    assert "go_toolchain_version" not in inv.hosts["gen1"].vars


def test_example_two_pc_inventory_parses(tmp_path, monkeypatch):
    """The documented real-machine example: non-root user with sudo, a non-default port."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "webbench_lab_ed25519").write_text("key\n")
    (tmp_path / ".ssh" / "webbench_known_hosts").write_text("")
    example = tmp_path / "example.yml"
    shutil.copy(INVENTORY_DIR / "example-two-pc.yml", example)
    inv = load_inventory(example)
    server = inv.group("server")[0]
    generator = inv.group("generator")[0]
    assert server.port == 2222 and generator.port == 22
    assert server.user == "labadmin" and server.become is True
    assert server.bench_address != server.address


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["all"]["children"]["server"]["hosts"]["srv1"].pop("ansible_host"),
            "host 'srv1': no address; add `ansible_host",
        ),
        (
            lambda d: d["all"]["children"]["server"]["hosts"]["srv1"].pop("lab_bench_address"),
            "host 'srv1': no benchmark address",
        ),
        (
            lambda d: d["all"]["children"]["server"]["hosts"]["srv1"].update(lab_bench_address="x"),
            "lab_bench_address 'x' is not an IP address",
        ),
        (
            lambda d: d["all"]["children"]["server"]["hosts"]["srv1"].update(ansible_port="ssh"),
            "ansible_port 'ssh' is not a TCP port",
        ),
        (
            lambda d: d["all"]["children"].update(databases={"hosts": {"db1": {"ansible_host": "h"}}}),
            "unknown group 'databases'",
        ),
        (lambda d: d["all"]["children"].pop("server"), "group 'server' has no host"),
        (
            lambda d: d["all"]["vars"].update(lab_known_hosts_file="/nonexistent/known_hosts"),
            "known_hosts file /nonexistent/known_hosts does not exist",
        ),
        (
            lambda d: d["all"]["vars"].update(ansible_ssh_private_key_file="/nonexistent/key"),
            "ansible_ssh_private_key_file /nonexistent/key does not exist",
        ),
    ],
)
def test_bad_inventories_name_the_file_host_and_fix(write_inventory, ssh_files, mutate, expected):
    data = copy.deepcopy(valid_inventory(*ssh_files))
    mutate(data)
    path = write_inventory(data)
    with pytest.raises(UserError) as err:
        load_inventory(path)
    assert expected in str(err.value)
    assert "inv.yml" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_inventory_file(tmp_path):
    with pytest.raises(UserError, match=r"mylab.yml: no such inventory source; pass -i"):
        load_inventory(tmp_path / "mylab.yml")


def test_invalid_yaml_names_the_line_with_ansibles_reason(write_inventory):
    path = write_inventory(text="all:\n  children:\n    server: {hosts: [\n")
    with pytest.raises(UserError) as err:
        load_inventory(path)
    # YAML's reason (the auto and yaml plugins'), not the INI plugin's for the same file.
    expected = r"inv.yml, line 4: Ansible cannot parse it: YAML parsing failed: .*flow node"
    assert re.search(expected, str(err.value))
    assert "ansible-inventory -i" in str(err.value) and "\n" not in str(err.value)


def test_yaml_that_is_not_an_inventory(write_inventory):
    with pytest.raises(UserError, match=r"inv.yml: Ansible cannot parse it: YAML inventory has invalid"):
        load_inventory(write_inventory(text="- just\n- a list\n"))


def test_inventory_path_relative_key(tmp_path: Path, ssh_files):
    """Relative key paths are relative to the inventory file, as for Ansible's own files."""
    key, known = ssh_files
    data = valid_inventory(Path("id_test"), known)
    path = tmp_path / "rel.yml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    assert load_inventory(path).hosts["gen1"].key_file == key
