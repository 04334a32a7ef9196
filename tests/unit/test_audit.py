"""The audit: the collector run for real on this machine (in-process, and as a script with the system's
python3 to prove it needs the standard library only), drift between audits, and audit.md."""

from __future__ import annotations

import copy
import grp
import hashlib
import json
import os
import pwd
import resource
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from webbench_lab.agent import auditor
from webbench_lab.audit.diff import ABSENT, VOLATILE, Drift, comparable, compare
from webbench_lab.audit.report import render_drift, render_markdown

AUDITOR = Path(auditor.__file__).resolve()
SYSTEM_PYTHON = "/usr/bin/python3"
GO = shutil.which("go", path=auditor.PATH)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def lab(tmp_path: Path) -> dict:
    """A host-like tree in tmp_path and the spec that points the collector at it."""
    write(tmp_path / "etc/nginx-L1.conf", b"worker_processes 1;\n")
    write(tmp_path / "confd/a.conf", b"a\n")
    write(tmp_path / "confd/sub/b.conf", b"b\n")
    write(tmp_path / "confd/.hidden.conf", b"h\n")
    write(tmp_path / "apps/gin/system.yml", b"name: gin\n")
    write(tmp_path / "apps/gin/go.sum", b"github.com/gin-gonic/gin v1.10.0 h1:x=\n")
    write(tmp_path / "build/gin/gin", b"\x7fELF fake binary", 0o755)
    write(tmp_path / "build/gin/notes.txt", b"not a binary")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/k6").symlink_to(tmp_path / "build/gin/gin")

    jail = tmp_path / "jail"
    write(jail / "app", b"jailed", 0o555)
    write(jail / ".hidden", b"secret", 0o600)
    (jail / "sub").mkdir(mode=0o750)
    (jail / "sub").chmod(0o750)
    write(jail / "sub/inner", b"inner", 0o640)
    (jail / "link").symlink_to("app")
    jail.chmod(0o755)

    tools = {
        tool: shutil.which(tool, path=auditor.PATH) is not None for tool in ("nginx", "siege", "wrk", "k6")
    }
    return {
        "root": tmp_path,
        "spec": {
            "app_user": "nobody",
            "run_as": ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"],
            "bench_address": "127.0.0.1",
            "packages": ["dpkg", "no-such-package-xyz"],
            "sysctls": [
                "net.core.somaxconn",
                "net.ipv4.tcp_max_syn_backlog",
                "net.ipv4.ip_local_port_range",
                "net.ipv4.tcp_tw_reuse",
                "fs.file-max",
            ],
            "venv": str(Path(auditor.__file__).resolve().parents[2] / ".venv"),
            "go": GO or str(tmp_path / "no-go"),
            "config_files": [str(tmp_path / "etc/nginx-L1.conf"), str(tmp_path / "etc/missing.conf")],
            "config_dirs": [str(tmp_path / "confd"), str(tmp_path / "no-dir")],
            "config_globs": [str(tmp_path / "apps/*/system.yml"), str(tmp_path / "none/*.yml")],
            "binary_globs": [
                str(tmp_path / "build/*/*"),
                str(tmp_path / "bin/k6"),
                str(tmp_path / "bin/wrk"),
            ],
            "go_sum_globs": [str(tmp_path / "apps/*/go.sum")],
            "jail": str(jail),
            "tools": tools,
            "siege_rc": str(tmp_path / "siegerc"),
        },
    }


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p): (p.lstat().st_mode, p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in [root, *root.rglob("*")]
    }


# --- the collector, for real -------------------------------------------------------------------------


@pytest.fixture
def collected(lab: dict) -> dict:
    before = snapshot(lab["root"])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        lab["listen_port"] = listener.getsockname()[1]
        audit = auditor.collect(lab["spec"])
    assert snapshot(lab["root"]) == before, "the collector changed the files it read"
    return audit


def test_system_and_network_are_this_machine(collected):
    system = collected["system"]
    assert system["kernel"] == os.uname().release
    assert system["arch"] == os.uname().machine
    assert system["cores"] == len(os.sched_getaffinity(0))
    assert system["hostname"] == socket.gethostname()
    assert system["debian_version"] == Path("/etc/debian_version").read_text().strip()
    assert isinstance(system["memory_kib"], int) and system["memory_kib"] > 0
    assert system["cpuset"] and system["online_cpus"]
    governor = system["governor"]
    if not Path("/sys/devices/system/cpu/cpu0/cpufreq").exists():
        assert governor == auditor.GOVERNOR_UNAVAILABLE
    else:
        assert isinstance(governor, str | dict)
    net = collected["network"]
    assert net["bench_address"] == "127.0.0.1" and net["bench_interface"] == "lo"
    assert net["mtu"] == int(Path("/sys/class/net/lo/mtu").read_text())
    assert net["speed_mbps"] is None or isinstance(net["speed_mbps"], int)  # lo: reading raises EINVAL
    assert isinstance(net["qdisc"], list) and all(line.startswith("qdisc") for line in net["qdisc"])
    assert collected["errors"] == {}


def test_sysctls_and_limits(collected):
    sysctls = collected["sysctls"]
    assert sysctls["net.core.somaxconn"].isdigit()
    low, high = sysctls["net.ipv4.ip_local_port_range"].split(" ")  # tab collapsed to one space
    assert int(low) < int(high)
    assert sysctls["fs.file-max"] == Path("/proc/sys/fs/file-max").read_text().strip()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # setpriv keeps the limits

    def shown(n: int) -> int | str:
        return "unlimited" if n == resource.RLIM_INFINITY else n

    assert collected["limits"] == {"app_user_nofile_soft": shown(soft), "app_user_nofile_hard": shown(hard)}


def test_packages(collected):
    version = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "dpkg"], capture_output=True, text=True, check=True
    ).stdout
    assert collected["packages"] == {"dpkg": version, "no-such-package-xyz": None}
    dpkg = collected["dpkg"]
    assert dpkg["count"] > 50 and len(dpkg["sha256"]) == 64


def test_toolchains_and_tools(collected, lab):
    go = collected["go"]
    if GO:
        assert go["version"].startswith("go version go")
        assert go["binary"] == os.path.realpath(GO) and go["sha256"] == sha(Path(GO).read_bytes())
    else:
        assert go == {"version": None, "binary": None, "sha256": None}
    freeze = collected["python"]["freeze"]
    assert freeze == sorted(freeze) and any(line.startswith("pytest==") for line in freeze)
    tools = collected["tools"]
    assert set(tools) == {"nginx_V", "siege_version", "siege_config", "wrk_version", "k6_version"}
    for tool, key in (
        ("nginx", "nginx_V"),
        ("siege", "siege_version"),
        ("wrk", "wrk_version"),
        ("k6", "k6_version"),
    ):
        assert (tools[key] is not None) == lab["spec"]["tools"][tool], key


def test_governors_collapse_to_one_value_when_the_cpus_agree(monkeypatch):
    def governors(table: dict[int, str | None]):
        def read(path: str) -> str | None:
            cpu = int(Path(path).parts[5].removeprefix("cpu"))  # /sys/devices/system/cpu/cpuN/...
            return None if table[cpu] is None else table[cpu] + "\n"

        monkeypatch.setattr(auditor, "read_text", read)
        return auditor.governors(sorted(table))

    assert governors({0: "performance", 1: "performance"}) == "performance"
    assert governors({0: "performance", 1: "powersave"}) == {"0": "performance", "1": "powersave"}
    assert governors({0: "performance", 1: None}) == {"0": "performance", "1": None}
    assert governors({0: None, 1: None}) == auditor.GOVERNOR_UNAVAILABLE


def test_proc_net_addresses_are_decoded():
    assert auditor.decode_address("0100007F") == "127.0.0.1"
    assert auditor.decode_address("00000000000000000000000001000000") == "::1"
    assert auditor.decode_address("0000000000000000FFFF00000100007F") == "::ffff:127.0.0.1"


def test_requested_tools_that_are_missing_are_null(monkeypatch, tmp_path):
    monkeypatch.setattr(auditor, "PATH", str(tmp_path))
    found = auditor.tool_versions({"nginx": True, "siege": True, "wrk": True, "k6": True}, "/etc/siegerc")
    assert found == dict.fromkeys(("nginx_V", "siege_version", "siege_config", "wrk_version", "k6_version"))


def test_hashes_of_configs_binaries_and_go_sums(collected, lab):
    root = lab["root"]
    assert collected["configs"] == {
        f"{root}/etc/nginx-L1.conf": sha(b"worker_processes 1;\n"),
        f"{root}/etc/missing.conf": None,
        f"{root}/confd/a.conf": sha(b"a\n"),
        f"{root}/confd/sub/b.conf": sha(b"b\n"),
        f"{root}/confd/.hidden.conf": sha(b"h\n"),
        f"{root}/no-dir": None,
        f"{root}/apps/gin/system.yml": sha(b"name: gin\n"),
    }  # none/*.yml matches nothing: nothing to record
    binary = sha(b"\x7fELF fake binary")
    assert collected["binaries"] == {
        f"{root}/build/gin/gin": {"sha256": binary, "resolved": f"{root}/build/gin/gin"},
        f"{root}/bin/k6": {"sha256": binary, "resolved": f"{root}/build/gin/gin"},
        f"{root}/bin/wrk": {"sha256": None, "resolved": None},
    }
    assert collected["go_sums"] == {
        f"{root}/apps/gin/go.sum": sha(b"github.com/gin-gonic/gin v1.10.0 h1:x=\n")
    }


def test_jail_listing(collected):
    root_owner = pwd.getpwuid(os.getuid()).pw_name
    root_group = grp.getgrgid(os.getgid()).gr_name
    jail = {e["path"]: e for e in collected["jail"]}
    assert [e["path"] for e in collected["jail"]] == [".", ".hidden", "app", "link", "sub", "sub/inner"]
    assert {path: (e["type"], e["mode"]) for path, e in jail.items()} == {
        ".": ("dir", "0755"),
        ".hidden": ("file", "0600"),
        "app": ("file", "0555"),
        "link": ("symlink", "0777"),
        "sub": ("dir", "0750"),
        "sub/inner": ("file", "0640"),
    }
    assert jail["app"]["sha256"] == sha(b"jailed") and jail[".hidden"]["sha256"] == sha(b"secret")
    assert jail["link"]["target"] == "app" and "sha256" not in jail["link"]
    assert "target" not in jail["app"] and "sha256" not in jail["sub"]
    assert all((e["owner"], e["group"]) == (root_owner, root_group) for e in jail.values())


def test_users_ports_and_keys(collected, lab):
    users = {u["name"]: u for u in collected["users"]}
    assert users["root"]["uid"] == 0 and users["nobody"]["uid"] == pwd.getpwnam("nobody").pw_uid
    assert [u["name"] for u in collected["users"]] == sorted(users)
    assert grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name in collected["groups_of_app_user"]

    ports = collected["ports"]
    assert all(p["proto"] in ("tcp", "tcp6") and isinstance(p["port"], int) for p in ports)
    assert len({json.dumps(p, sort_keys=True) for p in ports}) == len(ports)
    comm = Path("/proc/self/comm").read_text().strip()
    ours = {"address": "127.0.0.1", "port": lab["listen_port"], "proto": "tcp", "process": comm}
    assert ours in ports

    keys = collected["ssh_host_keys"]
    assert set(keys) == {str(p) for p in Path("/etc/ssh").glob("ssh_host_*_key.pub")}
    if keys and shutil.which("ssh-keygen"):
        path, fingerprint = next(iter(keys.items()))
        listed = subprocess.run(["ssh-keygen", "-lf", path], capture_output=True, text=True, check=True)
        assert listed.stdout.split()[1] == fingerprint


def test_audit_is_json(collected):
    assert json.loads(json.dumps(collected)) == collected
    assert collected["collected_at"].endswith("+00:00") and collected["collector_seconds"] >= 0


def test_missing_things_are_recorded_not_raised(tmp_path):
    user = "no-such-user-xyz"
    audit = auditor.collect(
        {
            "app_user": user,
            "run_as": ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"],
            "bench_address": "192.0.2.123",
            "packages": [],
            "sysctls": ["net.core.no_such_sysctl"],
            "venv": str(tmp_path / "no-venv"),
            "go": str(tmp_path / "no-go"),
            "jail": str(tmp_path / "no-jail"),
            "tools": {},
            "siege_rc": None,
            "config_files": [],
            "config_dirs": [],
            "config_globs": [],
            "binary_globs": [],
            "go_sum_globs": [],
        }
    )
    assert audit["errors"] == {}
    assert audit["limits"]["app_user_nofile_soft"] is None and "no-such-user-xyz" in audit["limits"]["error"]
    assert audit["groups_of_app_user"] is None
    assert audit["network"]["bench_interface"] is None and "192.0.2.123" in audit["network"]["note"]
    assert audit["sysctls"] == {"net.core.no_such_sysctl": None}
    assert audit["python"] == {"venv": str(tmp_path / "no-venv"), "freeze": None}
    assert audit["go"] == {"version": None, "binary": None, "sha256": None}
    assert audit["jail"] is None


def test_runs_as_a_script_with_the_system_python_and_stdlib_only(lab, tmp_path):
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"no {SYSTEM_PYTHON}")
    # -I -S: no site-packages, no environment; cwd elsewhere: only the standard library can be imported.
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-S", str(AUDITOR), json.dumps(lab["spec"])],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    audit = json.loads(lines[0])
    assert lines[0] == json.dumps(audit, sort_keys=True)
    assert audit["system"]["kernel"] == os.uname().release
    assert audit["packages"]["no-such-package-xyz"] is None and audit["packages"]["dpkg"]
    assert audit["errors"] == {}


def test_script_answers_a_bad_spec_with_an_error_object():
    proc = subprocess.run(
        [SYSTEM_PYTHON, str(AUDITOR), "not json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "error" in json.loads(proc.stdout)


# --- drift -------------------------------------------------------------------------------------------

NGINX_V = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.9\nconfigure arguments: " + " ".join(
    f"--with-module-{i}" for i in range(30)
)


def host_audit(name: str) -> dict:
    return {
        "system": {"hostname": name, "kernel": "6.1.0-25-amd64", "cores": 2, "governor": "performance"},
        "packages": {"nginx": "1.22.1-9", "spawn-fcgi": "1.6.4-2"},
        "dpkg": {"count": 400, "sha256": "d" * 64},
        "configs": {"/etc/webbench/nginx/webpy-nginx-L1.conf": "a" * 64, "/etc/webbench/siegerc": None},
        "jail": [
            {"path": ".", "type": "dir", "owner": "root", "group": "root", "mode": "0755"},
            {"path": "gin", "type": "dir", "owner": "root", "group": "root", "mode": "0755"},
            {
                "path": "gin/gin",
                "type": "file",
                "owner": "root",
                "group": "root",
                "mode": "0555",
                "sha256": "b" * 64,
            },
        ],
        "python": {"venv": "/opt/webbench/venv", "freeze": ["tornado==6.4", "web.py==0.62"]},
        "tools": {"nginx_V": NGINX_V, "wrk_version": None},
        "users": [{"name": "root", "uid": 0, "gid": 0, "home": "/root", "shell": "/bin/bash"}],
        "ports": [{"address": "0.0.0.0", "port": 22, "proto": "tcp", "process": "sshd"}],
        "ssh_host_keys": {"/etc/ssh/ssh_host_ed25519_key.pub": f"SHA256:{name}"},
        "collected_at": "2026-11-23T03:00:00+00:00",
        "collector_seconds": 1.5,
    }


def lab_audit() -> dict:
    return {
        "collected_at": "2026-11-23T03:00:00+00:00",
        "seconds": 4.2,
        "inventory": "inventory/lab.yml",
        "lab_commit": "8df944a",
        "hosts": {"gen1": host_audit("gen1"), "srv1": host_audit("srv1")},
    }


def test_identical_audits_and_volatile_keys_give_no_drift():
    baseline = lab_audit()
    assert compare(baseline, copy.deepcopy(baseline)) == []
    current = copy.deepcopy(baseline)
    current.update(
        collected_at="2026-12-01T00:00:00+00:00", seconds=9.9, inventory="other.yml", lab_commit="f00"
    )
    for host in current["hosts"].values():
        host.update(
            collected_at="2026-12-01T00:00:01+00:00", collector_seconds=3.0, ssh_host_keys={"k": "SHA256:x"}
        )
    assert compare(baseline, current) == []
    assert "ssh_host_keys" in VOLATILE["host"] and "lab_commit" in VOLATILE["audit"]


def test_comparable_drops_volatile_keys_without_touching_the_audit():
    audit = lab_audit()
    kept = comparable(audit)
    assert set(kept) == {"hosts"}
    assert "collected_at" not in kept["hosts"]["srv1"] and "ssh_host_keys" not in kept["hosts"]["srv1"]
    assert audit == lab_audit()


def test_each_change_is_one_drift():
    baseline = lab_audit()
    current = copy.deepcopy(baseline)
    del current["hosts"]["gen1"]
    srv = current["hosts"]["srv1"]
    srv["packages"]["spawn-fcgi"] = None
    srv["configs"]["/etc/webbench/nginx/webpy-nginx-L1.conf"] = "c" * 64
    srv["jail"].append(
        {"path": "gin/extra", "type": "file", "owner": "root", "group": "root", "mode": "0644"}
    )
    srv["python"]["freeze"] = ["tornado==6.4.1", "web.py==0.62"]

    drifts = compare(baseline, current, source="last audit")
    assert drifts == [
        Drift("gen1", "last audit", "host", "present", ABSENT),
        Drift("srv1", "last audit", "configs./etc/webbench/nginx/webpy-nginx-L1.conf", "a" * 64, "c" * 64),
        Drift("srv1", "last audit", "jail.gin/extra", ABSENT, "group=root mode=0644 owner=root type=file"),
        Drift("srv1", "last audit", "packages.spawn-fcgi", "1.6.4-2", "null"),
        Drift("srv1", "last audit", "python.freeze: tornado==6.4 missing", "tornado==6.4", ABSENT),
        Drift("srv1", "last audit", "python.freeze: tornado==6.4.1 added", ABSENT, "tornado==6.4.1"),
    ]
    assert drifts[0].as_dict() == {
        "host": "gen1",
        "source": "last audit",
        "what": "host",
        "expected": "present",
        "found": ABSENT,
    }


def test_records_are_matched_by_their_natural_key():
    baseline = lab_audit()
    current = copy.deepcopy(baseline)
    srv = current["hosts"]["srv1"]
    srv["jail"].reverse()  # order alone is no drift
    srv["jail"][0]["mode"] = "0755"  # gin/gin
    srv["users"][0]["shell"] = "/bin/sh"
    # Listening ports are runtime state (audit/runtime.py), never drift.
    srv["ports"][0]["process"] = "dropbear"
    srv["ports"].append({"address": "::", "port": 8080, "proto": "tcp6", "process": "gin"})
    whats = [(d.what, d.expected, d.found) for d in compare(baseline, current, source="pyinfra lab")]
    assert whats == [
        ("jail.gin/gin.mode", "0555", "0755"),
        ("users.root.shell", "/bin/bash", "/bin/sh"),
    ]


def test_long_values_are_compared_whole_and_shown_short():
    baseline = lab_audit()
    current = copy.deepcopy(baseline)
    current["hosts"]["srv1"]["tools"]["nginx_V"] = NGINX_V.replace("--with-module-25", "--with-module-XX")
    (drift,) = compare(baseline, current)
    assert drift.what == "tools.nginx_V"
    assert len(drift.expected) <= 80 and len(drift.found) <= 80
    assert "module-25" in drift.expected and "module-XX" in drift.found  # shown around the difference


# --- documents ---------------------------------------------------------------------------------------


def test_render_markdown_of_a_lab_audit():
    text = render_markdown(lab_audit())
    assert text.startswith("# Lab audit\n")
    assert "2026-11-23T03:00:00+00:00" in text and "inventory/lab.yml" in text
    assert "## gen1" in text and "## srv1" in text
    assert "| spawn-fcgi | 1.6.4-2 |" in text
    assert "| gin/gin | file | root:root | 0555 | " + "b" * 16 + " |" in text
    assert "b" * 17 not in text  # jail hashes are shortened
    assert "```text\nnginx version: nginx/1.22.1\n" in text
    assert "| /etc/webbench/siegerc | missing |" in text
    assert "| root | 0 | 0 | /root | /bin/bash |" in text
    assert "| 0.0.0.0 | 22 | tcp | sshd |" in text
    assert "| wrk | — |" in text  # missing values


def test_render_markdown_of_a_real_collection(collected, lab):
    text = render_markdown({"collected_at": collected["collected_at"], "hosts": {"local": collected}})
    assert "## local" in text and os.uname().release in text
    assert f"| {collected['packages']['dpkg']} |" in text
    assert "| .hidden | file |" in text and "| link | symlink |" in text and "→ app" in text
    assert "| lo |" not in text and "on lo," in text


def test_render_drift():
    baseline = lab_audit()
    current = copy.deepcopy(baseline)
    current["hosts"]["srv1"]["packages"]["spawn-fcgi"] = "1.6.5-1"
    text = render_drift(compare(baseline, current))
    lines = text.splitlines()
    assert lines[0] == "| Host | Source | What | Expected | Found |"
    assert "| srv1 | last audit | packages.spawn-fcgi | 1.6.4-2 | 1.6.5-1 |" in lines
    assert render_drift([]).startswith("No drift")
