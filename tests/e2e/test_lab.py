"""End to end on the real local lab: namespaces, overlayfs, real sshd, real apt, real pyinfra."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.e2e.conftest import by_group, sh, wbl
from webbench_lab.agent import auditor
from webbench_lab.defaults import python_pins, shared_defaults
from webbench_lab.errors import UserError
from webbench_lab.hosts.ssh import connect
from webbench_lab.locallab import topology

pytestmark = [pytest.mark.e2e, pytest.mark.fresh_lab]


def test_two_fresh_debian_hosts_with_their_own_namespaces(lab):
    status = wbl("lab", "status")
    assert status.returncode == 0 and status.stdout.count(" up ") == 2
    keys = set()
    for host in lab.hosts.values():
        name = host.name.removeprefix("lab-")
        assert sh(host, "hostname").strip() == name
        assert sh(host, "cat /etc/debian_version").startswith("12.")
        # Own PID namespace: PID 1 is the lab's init, not the control machine's.
        assert "hostinit.py" in sh(host, "tr '\\0' ' ' < /proc/1/cmdline")
        # Pinned to its own CPUs, as the inventory records.
        assert f"cpuset:/webbench-lab/{name}" in sh(host, "cat /proc/self/cgroup")
        allowed = sh(host, "grep Cpus_allowed_list /proc/self/status").split()[-1]
        assert allowed == host.cpus
        # No route out: only the connected networks, no default route.
        routes = sh(host, "cat /proc/net/route").splitlines()[1:]
        assert routes and all(line.split()[1] != "00000000" for line in routes)
        keys.add(sh(host, "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[1])
    assert len(keys) == 2, "each host has its own host key"
    gen, srv = by_group(lab, "generator"), by_group(lab, "server")
    assert set(gen.cpus.split(",")).isdisjoint(srv.cpus.split(","))


def test_the_server_cpu_limit_is_a_cfs_quota_the_server_reads_and_cannot_change(lab):
    """`lab up` limits the server to DEFAULT_SERVER_CPU cores with a 10 ms period; its cgroup is
    mounted read-only where a machine has it, so SSH and the audit read it as on a real host."""
    gen, srv = by_group(lab, "generator"), by_group(lab, "server")
    assert srv.cpu_limit == topology.DEFAULT_SERVER_CPU and gen.cpu_limit is None
    quota = sh(srv, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us").split()
    assert [int(x) for x in quota] == [round(srv.cpu_limit * 10_000), 10_000]
    assert "cpu:/webbench-lab/server" in sh(srv, "cat /proc/self/cgroup")
    refused = sh(srv, "sh -c 'echo -1 > /sys/fs/cgroup/cpu/cpu.cfs_quota_us' 2>&1 || echo refused")
    assert "Read-only file system" in refused and "refused" in refused
    assert sh(gen, "ls /sys/fs/cgroup/ 2>&1").split() == ["cpuset"]
    # A busy loop on the server gets its quota of a core, not the core: the counters add up since
    # `lab up`, so the test takes their difference around its own loop (3 s of 10 ms periods: a
    # quarter core is throttled in nearly all of its ~300; 100 leaves room for a slow machine).
    stat = "grep throttled /sys/fs/cgroup/cpu/cpu.stat"
    out = sh(srv, f"{stat}; echo --; timeout 3 sh -c 'while :; do :; done' || true; {stat}")
    before, after = (dict(ln.split() for ln in part.splitlines() if ln.strip()) for part in out.split("--"))
    throttled = int(after["nr_throttled"]) - int(before["nr_throttled"])
    assert throttled > 100, (before, after)
    assert int(after["throttled_time"]) > int(before["throttled_time"])


def test_benchmark_link_is_direct_and_shaped(lab):
    gen, srv = by_group(lab, "generator"), by_group(lab, "server")
    for host in (gen, srv):
        ns = topology.NETNS_PREFIX + host.name.removeprefix("lab-")
        qdisc = subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", "bench0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "tbf" in qdisc and "rate 1Gbit" in qdisc
        # each host does its own receive work, on its own CPUs (as a machine with its own NIC)
        steering = sh(host, "cat /sys/class/net/bench0/queues/rx-0/rps_cpus").strip().replace(",", "")
        assert int(steering, 16) == sum(1 << int(c) for c in host.cpus.split(",")), (host.name, steering)
    listener = (
        "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1);"
        f"s.bind(('{srv.bench_address}', 9099)); s.listen(); s.settimeout(20);"
        "c,a=s.accept(); c.sendall(a[0].encode()); c.close()"
    )
    conn = connect(srv)
    try:
        promise = conn.run(
            f"python3 -c {shlex.quote(listener)}", hide=True, in_stream=False, asynchronous=True
        )
        client = (
            "import socket,time\nfor i in range(50):\n try:\n"
            f"  c=socket.create_connection(('{srv.bench_address}', 9099), 2); break\n"
            " except OSError: time.sleep(0.1)\nprint(c.recv(64).decode())"
        )
        peer = sh(gen, f"python3 -c {shlex.quote(client)}").strip()
        promise.join()
    finally:
        conn.close()
    assert peer == gen.bench_address, "the server saw the generator's benchmark-link address"


def test_first_provision_changes_both_hosts(provisioned):
    assert provisioned["ok"] is True and provisioned["engine"] == "pyinfra"
    for name, host in provisioned["hosts"].items():
        assert host["changed"] > 0, name
        assert host["failed"] == []


def test_generator_has_the_load_tools(lab, provisioned):
    gen = by_group(lab, "generator")
    versions = sh(gen, "dpkg-query -W -f='${Package} ${Version} ${Status}\\n' siege wrk")
    for pkg in ("siege", "wrk"):
        assert any(
            line.startswith(pkg + " ") and "install ok installed" in line for line in versions.splitlines()
        )
    assert "SIEGE 4." in sh(gen, "siege --version 2>&1", warn=True)
    # The Python stack is the server's: the generator has no venv.
    venv = shared_defaults()["python_stack_venv"]
    assert sh(gen, f"test -e {venv} && echo present || echo absent").strip() == "absent"


def test_server_has_the_stack(lab, provisioned):
    srv = by_group(lab, "server")
    d = shared_defaults()
    dpkg = sh(srv, "dpkg-query -W -f='${Package} ${Status}\\n' nginx spawn-fcgi redis-server python3-venv")
    assert dpkg.count("install ok installed") == 4, dpkg
    assert sh(srv, "go version").startswith(f"go version go{d['go_toolchain_version']} linux/amd64")
    # The venv holds exactly the lock, and every framework imports.
    freeze = sh(srv, f"{d['python_stack_venv']}/bin/pip freeze --all")
    installed = {_norm(line) for line in freeze.splitlines() if "==" in line}
    assert {_norm(p) for p in python_pins()} <= installed
    imports = "tornado, web, cheroot, gunicorn, gevent, flup, fastapi, uvicorn, flask, redis, httpx, aiohttp"
    assert sh(srv, f"{d['python_stack_venv']}/bin/python -c 'import {imports}; print(42)'").strip() == "42"
    # The Go toolchain builds and runs a program, offline, with the lab's shared build cache as the
    # apps' builds use it (its standard library is k6's, compiled on the control machine: cold, at
    # a quarter of a core, it took 50 s).
    hello = (
        "set -e; d=$(mktemp -d); cd $d; printf 'module hello\\ngo 1.22\\n' > go.mod;"
        ' printf \'package main\\nimport "fmt"\\nfunc main() { fmt.Println("hello, lab") }\\n\' > main.go;'
        f" HOME=$d GOCACHE={d['apps_cache_root']}/go-build CGO_ENABLED=0 go build -trimpath -o hello ."
        " && ./hello; rm -rf $d"
    )
    assert sh(srv, hello).strip() == "hello, lab"
    user = sh(srv, f"getent passwd {d['common_app_user']}").strip().split(":")
    assert int(user[2]) > 0 and user[6] == "/usr/sbin/nologin"
    jail = sh(srv, f"stat -c '%U %G %a' {d['chroot_jail_dir']}; ls -A {d['chroot_jail_dir']} | wc -l")
    assert jail.split() == ["root", "root", "755", "0"]


def _norm(pin: str) -> str:
    name, _, version = pin.strip().partition("==")
    return name.lower().replace("_", "-").replace(".", "-") + "==" + version


def test_ssh_is_key_only_and_strict(lab, tmp_path):
    srv = by_group(lab, "server")
    transport = paramiko.Transport((srv.address, srv.port))
    try:
        transport.start_client(timeout=10)
        with pytest.raises(paramiko.BadAuthenticationType) as err:
            transport.auth_password("root", "any password")
        assert err.value.allowed_types == ["publickey"]
    finally:
        transport.close()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(UserError, match="is not in"):
        connect(dataclasses.replace(srv, known_hosts=empty))
    openssh = subprocess.run(
        [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={empty}",
            "-i",
            str(srv.key_file),
            f"{srv.user}@{srv.address}",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert openssh.returncode != 0 and "Host key verification failed" in openssh.stderr


def test_second_provision_changes_nothing(provisioned):
    proc = wbl("provision", "--json")
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert again["changed"] == 0
    assert all(h["changed"] == 0 and h["ops"] > 0 for h in again["hosts"].values()), again


def test_audit_of_a_freshly_provisioned_lab_has_real_values(lab, pyinfra_audit, audits_root):
    (stored,) = (audits_root / "pyinfra").glob("*/audit.json")
    assert json.loads(stored.read_text()) == pyinfra_audit
    assert "# Lab audit" in (stored.parent / "audit.md").read_text()
    defaults = shared_defaults()
    for name, host in pyinfra_audit["hosts"].items():
        inv_host = lab.hosts[name]
        assert host["errors"] == {}, host["errors"]
        system = host["system"]
        assert system["os_release"].startswith("Debian GNU/Linux 12")
        assert system["kernel"] and system["cpu_model"] and system["memory_kib"] > 0
        assert system["cpuset"] == inv_host.cpus and system["cores"] == 1
        limit = system["cpu_limit"]
        if inv_host.cpu_limit is None:
            assert limit is None
        else:
            assert limit["cores"] == inv_host.cpu_limit and limit["period_us"] == 10_000, limit
        # The hosts share this machine's kernel: the governor of their CPU, or why there is none.
        cpu = int(inv_host.cpus.split(",")[0].split("-")[0])
        governor = Path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
        expected = governor.read_text().strip() if governor.exists() else auditor.GOVERNOR_UNAVAILABLE
        assert system["governor"] == expected
        net = host["network"]
        assert net["bench_address"] == inv_host.bench_address and net["bench_interface"] == "bench0"
        assert any("tbf" in line and "rate 1Gbit" in line for line in net["qdisc"])
        assert set(host["sysctls"]) == {
            "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.ip_local_port_range",
            "net.ipv4.tcp_tw_reuse", "fs.file-max",
        }  # fmt: skip
        assert all(value for value in host["sysctls"].values())
        assert isinstance(host["limits"]["app_user_nofile_soft"], int | str)
        assert all(version for version in host["packages"].values()), host["packages"]
        assert host["go"]["version"] == f"go version go{defaults['go_toolchain_version']} linux/amd64"
        assert len(host["go_sums"]) >= 4 and all(host["go_sums"].values())
        assert "/usr/sbin/policy-rc.d" in host["configs"]
        assert {u["name"] for u in host["users"]} >= {"root", defaults["common_app_user"]}
        assert [p["port"] for p in host["ports"]] == [22]
        assert host["ssh_host_keys"]
    server = pyinfra_audit["hosts"]["lab-server"]
    assert server["packages"]["nginx"] and server["packages"]["spawn-fcgi"]
    assert set(python_pins()) <= set(server["python"]["freeze"])
    assert server["tools"]["nginx_V"].startswith("nginx version: nginx/")
    assert server["configs"]["/etc/webbench/nginx/webpy-nginx-L1.conf"]
    assert server["configs"]["/etc/webbench/redis.conf"]
    assert server["jail"] == [{"group": "root", "mode": "0755", "owner": "root", "path": ".", "type": "dir"}]
    generator = pyinfra_audit["hosts"]["lab-generator"]
    assert generator["tools"]["siege_version"].startswith("SIEGE 4.0")
    assert "concurrent users:               200" in generator["tools"]["siege_config"]
    assert generator["tools"]["wrk_version"].startswith("wrk ") and generator["tools"][
        "k6_version"
    ].startswith("k6 v")
    assert generator["binaries"]["/opt/webbench/build/backend/backend"]["sha256"]
