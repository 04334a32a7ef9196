"""-i takes what `ansible-inventory -i` takes: the same lab in every format gives the same hosts and
variables, several sources merge in order, and a source Ansible cannot use is one line."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.test_cli import assert_one_line_exit_2, run_cli
from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import LabInventory, load_inventory
from webbench_lab.paths import INVENTORY_DIR

GEN1 = {"ansible_host": "198.18.0.2", "lab_bench_address": "198.19.0.1", "lab_cpus": "0"}
SRV1 = {
    "ansible_host": "198.18.0.3",
    "ansible_port": 2222,
    "lab_bench_address": "198.19.0.2",
    "lab_cpus": "1",
}


def ini_line(name: str, hvars: dict) -> str:
    """A host line: its values are Python literals after shell-like unquoting, so a string that
    looks like a number ("0") keeps its type only as "'0'"."""
    return name + "".join(f' {k}="{v!r}"' if isinstance(v, str) else f" {k}={v}" for k, v in hvars.items())


def write_ini(path: Path, key: Path, known: Path) -> Path:
    path.write_text(
        f"[all:vars]\nansible_user=root\nansible_ssh_private_key_file={key}\nlab_known_hosts_file={known}\n\n"
        f"[generator]\n{ini_line('gen1', GEN1)}\n\n[server]\n{ini_line('srv1', SRV1)}\n"
    )
    return path


def write_directory(root: Path, key: Path, known: Path) -> Path:
    """hosts (INI, names only) + group_vars/all.yml + host_vars/<host>.yml, as sysadmins keep them."""
    (root / "group_vars").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts").write_text("[generator]\ngen1\n\n[server]\nsrv1\n")
    all_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "lab_known_hosts_file": str(known),
    }
    (root / "group_vars" / "all.yml").write_text(yaml.safe_dump(all_vars))
    (root / "host_vars" / "gen1.yml").write_text(yaml.safe_dump(GEN1))
    (root / "host_vars" / "srv1.yml").write_text(yaml.safe_dump(SRV1))
    return root


def write_script(path: Path, key: Path, known: Path, exit_code: int = 0) -> Path:
    """A dynamic inventory: --list prints the groups and _meta.hostvars as JSON."""
    listing = {
        "all": {"vars": {"ansible_user": "root", "ansible_ssh_private_key_file": str(key),
                         "lab_known_hosts_file": str(known)}},
        "generator": {"hosts": ["gen1"]},
        "server": {"hosts": ["srv1"]},
        "_meta": {"hostvars": {"gen1": GEN1, "srv1": SRV1}},
    }  # fmt: skip
    path.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"if {exit_code}:\n    print('cannot reach the CMDB', file=sys.stderr)\n    sys.exit({exit_code})\n"
        f"print(json.dumps({listing!r} if sys.argv[1] == '--list' else {{}}))\n"
    )
    path.chmod(0o755)
    return path


def as_compared(inv: LabInventory) -> dict:
    """What both engines get from an inventory: each host's fields and its variables, with types."""
    return {name: (h, {k: (kind(v), v) for k, v in h.vars.items()}) for name, h in inv.hosts.items()}


def kind(value: object) -> str:
    """The plain type of a value (Ansible tags its strings and numbers with their origin)."""
    return next(t.__name__ for t in (bool, int, float, str, list, dict, object) if isinstance(value, t))


def test_the_same_lab_in_every_format_gives_the_same_hosts_and_vars(write_inventory, ssh_files, tmp_path):
    key, known = ssh_files
    from_yaml = as_compared(load_inventory(write_inventory()))
    assert from_yaml["srv1"][0].port == 2222 and from_yaml["gen1"][0].bench_address == "198.19.0.1"
    sources = {
        "ini": write_ini(tmp_path / "lab.ini", key, known),
        "directory": write_directory(tmp_path / "labdir", key, known),
        "script": write_script(tmp_path / "cmdb.py", key, known),
    }
    for kind, source in sources.items():
        assert as_compared(load_inventory(source)) == from_yaml, kind


def test_the_ini_example_is_the_yaml_example(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "webbench_lab_ed25519").write_text("key\n")
    (tmp_path / ".ssh" / "webbench_known_hosts").write_text("")
    loaded = {}
    for suffix in ("yml", "ini"):
        copy = tmp_path / f"example.{suffix}"
        shutil.copy(INVENTORY_DIR / f"example-two-pc.{suffix}", copy)
        loaded[suffix] = as_compared(load_inventory(copy))
    assert loaded["ini"] == loaded["yml"]
    server = loaded["ini"]["app-pc"][0]
    assert (server.user, server.port, server.become, server.cpus) == ("labadmin", 2222, True, "0-1")


def test_a_plugin_configuration_groups_and_composes_on_top_of_another_source(
    ssh_files, tmp_path, write_inventory
):
    """ansible.builtin.constructed (shipped with Ansible, offline) makes the groups and the bench
    addresses from variables of the INI source before it."""
    key, known = ssh_files
    ini = tmp_path / "flat.ini"
    ini.write_text(
        f"[all:vars]\nansible_user=root\nansible_ssh_private_key_file={key}\nlab_known_hosts_file={known}\n\n"
        '[ungrouped]\ngen1 ansible_host=198.18.0.2 lab_role="generator" lab_cpus="0"\n'
        'srv1 ansible_host=198.18.0.3 ansible_port=2222 lab_role="server" lab_cpus="1"\n'
    )
    config = tmp_path / "lab.constructed.yml"
    config.write_text(
        "plugin: ansible.builtin.constructed\nstrict: true\n"
        "groups:\n  generator: lab_role == 'generator'\n  server: lab_role == 'server'\n"
        "compose:\n  lab_bench_address: \"'198.19.0.' ~ (ansible_host.split('.')[-1] | int - 1)\"\n"
    )
    inv = load_inventory([ini, config])
    assert inv.hosts == load_inventory(write_inventory()).hosts
    assert inv.sources == (ini, config)


def test_several_sources_merge_in_order_later_ones_win(write_inventory, tmp_path):
    base = write_inventory()
    override = tmp_path / "override.ini"
    override.write_text('[server]\nsrv1 lab_cpus="0-1"\n\n[server:vars]\ngo_toolchain_version="9.9.9"\n')
    inv = load_inventory([base, override])
    assert inv.hosts["srv1"].cpus == "0-1"
    assert inv.hosts["srv1"].vars["go_toolchain_version"] == "9.9.9"
    assert inv.hosts["gen1"].cpus == "0" and "go_toolchain_version" not in inv.hosts["gen1"].vars
    assert inv.label == f"{base} + {override}"
    # The other order: the base's value is the later one.
    assert load_inventory([override, base]).hosts["srv1"].cpus == "1"


def test_relative_files_are_relative_to_the_source_that_defines_the_host(ssh_files, tmp_path):
    key, known = ssh_files
    labdir = write_directory(tmp_path / "labdir", key, known)
    (tmp_path / "gen1.key").write_text("key\n")  # not in labdir: Ansible reads every file there
    (labdir / "host_vars" / "gen1.yml").write_text(
        yaml.safe_dump({**GEN1, "ansible_ssh_private_key_file": "../gen1.key"})
    )
    assert load_inventory(labdir).hosts["gen1"].key_file == tmp_path / "gen1.key"


def one_line_error(sources: list[Path]) -> str:
    with pytest.raises(UserError) as err:
        load_inventory(sources)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_a_missing_source_among_several_is_named(write_inventory, tmp_path):
    text = one_line_error([write_inventory(), tmp_path / "extra.ini"])
    assert text.startswith(f"{tmp_path / 'extra.ini'}: no such inventory source; pass -i")


def test_a_broken_plugin_configuration_gives_the_plugins_reason(write_inventory, tmp_path):
    config = tmp_path / "lab.constructed.yml"
    config.write_text(
        "plugin: ansible.builtin.constructed\nstrict: true\ncompose:\n  lab_cpus: no_such_var\n"
    )
    text = one_line_error([write_inventory(), config])
    assert text.startswith(
        f"{config}: Ansible cannot parse it: Failed to parse '{config}': Could not set lab_cpus"
    )
    assert "'no_such_var' is undefined" in text
    assert f"`ansible-inventory -i {tmp_path / 'inv.yml'} -i {config} --list`" in text


@pytest.mark.parametrize("name", ["lab.ini", "labdir/hosts"])
def test_broken_ini_gives_the_ini_plugins_reason(tmp_path, name):
    """`hosts` has no extension, so Ansible's YAML plugin tries it too: its reason is not the one."""
    bad = tmp_path / name
    bad.parent.mkdir(exist_ok=True)
    bad.write_text("[generator]\ngen1 ansible_host=198.18.0.2\n\n[server:bogus]\nsrv1\n")
    source = tmp_path / name.split("/")[0]
    text = one_line_error([source])
    assert text.startswith(f"{bad}: Ansible cannot parse it: Failed to parse inventory: ")
    assert "Section [server:bogus] has unknown type: bogus" in text
    assert f"`ansible-inventory -i {source} --list`" in text


def test_broken_yaml_in_a_directory_names_the_file_and_line(ssh_files, tmp_path):
    labdir = write_directory(tmp_path / "labdir", *ssh_files)
    (labdir / "host_vars" / "srv1.yml").write_text("ansible_host: [198.18.0.3\nlab_cpus: 1\n")
    text = one_line_error([labdir])
    assert text.startswith(
        f"{labdir / 'host_vars' / 'srv1.yml'}, line 2: Ansible cannot parse it: YAML parsing failed"
    )


def test_a_script_that_fails_gives_its_exit_code_and_its_error(ssh_files, tmp_path):
    script = write_script(tmp_path / "cmdb.py", *ssh_files, exit_code=3)
    text = one_line_error([script])
    assert text.startswith(
        f"{script}: Ansible cannot parse it: Inventory script returned non-zero exit code 3"
    )
    assert "(cannot reach the CMDB)" in text


@pytest.mark.parametrize("where", ["lab.ini", "labdir/group_vars/all.yml"])
def test_a_file_that_is_not_utf8_is_named(ssh_files, tmp_path, where):
    key, known = ssh_files
    write_ini(tmp_path / "lab.ini", key, known)
    write_directory(tmp_path / "labdir", key, known)
    (tmp_path / where).write_bytes(b"# caf\xe9\n" + (tmp_path / where).read_bytes())
    source = tmp_path / where.split("/")[0]
    text = one_line_error([source])
    assert (
        text
        == f"{tmp_path / where}: not UTF-8 (byte 5); Ansible reads inventories as UTF-8: "
        + "save it as UTF-8"
    )


def test_a_source_without_hosts_says_so(tmp_path):
    empty = tmp_path / "empty.ini"
    empty.write_text("# nothing yet\n")
    assert one_line_error([empty]).startswith(f"{empty}: Ansible found no host in it")


def test_repeated_i_on_the_command_line_is_one_line_exit_2(write_inventory, tmp_path):
    bad = tmp_path / "extra.ini"
    bad.write_text("[server:bogus]\nsrv1\n")
    proc = run_cli("provision", "-i", str(write_inventory()), "-i", str(bad), "--engine", "pyinfra")
    assert_one_line_exit_2(
        proc, "extra.ini: Ansible cannot parse it: Failed to parse inventory: Section [server:bogus]"
    )


def test_the_command_line_keeps_every_i_in_order(tmp_path, monkeypatch):
    from webbench_lab.cli import options
    from webbench_lab.cli.main import build_parser

    args = build_parser().parse_args(["verify", "-i", "a.yml", "-i", "b.ini"])
    assert options.resolve_inventory(args.inventory) == [Path("a.yml"), Path("b.ini")]
    local = tmp_path / "local.yml"
    local.write_text("all: {}\n")
    monkeypatch.setattr(options, "LOCAL_INVENTORY", local)
    assert options.resolve_inventory(build_parser().parse_args(["verify"]).inventory) == [local]


def test_both_engines_get_every_source_in_order(write_inventory, tmp_path, monkeypatch):
    from webbench_lab.audit import drift
    from webbench_lab.provision import ansible_engine

    override = tmp_path / "override.ini"
    override.write_text('[server]\nsrv1 lab_cpus="0-1"\n')
    inv = load_inventory([write_inventory(), override])
    assert ansible_engine.inventory_args(inv) == [str(tmp_path / "inv.yml"), str(override)]
    seen: list[list[str]] = []

    def fake_run(argv, **kwargs):
        seen.append(argv)
        return type("Proc", (), {"returncode": 0, "stdout": '{"hosts": {}}', "stderr": ""})()

    monkeypatch.setattr(drift.subprocess, "run", fake_run)
    drift.engine_check("pyinfra", inv)
    assert seen[0][4:8] == ["-i", str(tmp_path / "inv.yml"), "-i", str(override)]


def test_resume_accepts_the_same_hosts_from_another_format(write_inventory, ssh_files, tmp_path):
    from webbench_lab.bench.session import recorded_inventory

    ini = write_ini(tmp_path / "lab.ini", *ssh_files)
    assert recorded_inventory([ini]) == recorded_inventory([write_inventory()])
    assert recorded_inventory([ini])["srv1"]["port"] == 2222
