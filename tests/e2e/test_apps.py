"""Every system of both labs on the provisioned server: built, started, verified, stopped for sure."""

from __future__ import annotations

import shlex

import pytest

from tests.e2e.conftest import by_group, sh, wbl
from webbench_lab.apps import systems
from webbench_lab.defaults import shared_defaults
from webbench_lab.locallab import hosts

# Prints "static" when no program header is PT_INTERP (3) or PT_DYNAMIC (2), else "dynamic".
ELF_SEGMENTS = (
    "import struct, sys\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "assert data[:4] == b'\\x7fELF' and data[4] == 2, 'not a 64-bit ELF file'\n"
    "(phoff,) = struct.unpack_from('<Q', data, 32)\n"
    "phentsize, phnum = struct.unpack_from('<HH', data, 54)\n"
    "types = {struct.unpack_from('<I', data, phoff + i * phentsize)[0] for i in range(phnum)}\n"
    "print('dynamic' if types & {2, 3} else 'static')\n"
)

pytestmark = pytest.mark.e2e
BUILDABLE_GO = {"go-http", "gin"}
APP_PORTS = {8000, 8001, 8080, 8081, 8099}


@pytest.fixture(scope="module")
def built(labs, audits_root) -> str:
    labs.fresh("pyinfra", audits_root)
    proc = wbl("app", "build")
    return proc.stdout


def test_go_systems_build_or_say_why_not(built):
    rows = {line.split()[0]: line for line in built.splitlines() if line.strip()}
    for name in BUILDABLE_GO:
        assert "built /opt/webbench/build/" in rows[name]
    assert "not buildable: " in rows["twister"]
    assert "cannot find module providing package github.com/garyburd/twister" in rows["twister"]
    assert "not buildable: " in rows["webgo"] and "container/vector is not in std" in rows["webgo"]


def test_go_builds_fill_the_shared_build_cache_a_later_lab_reuses(lab, built):
    """Go's build cache is the control machine's (locallab/hosts.py shared_caches), bound into
    the host where its builds put it: the next lab's builds compile only what changed."""
    ((src, dest),) = hosts.shared_caches()
    assert f" {dest} " in sh(by_group(lab, "server"), "cat /proc/mounts")
    assert len(list(src.glob("*/*-d"))) > 100  # Go's cache entries: <2 hex>/<hash>-d


@pytest.mark.parametrize("level", [1, 2])
def test_every_system_answers_every_endpoint_exactly(lab, built, level):
    proc = wbl("verify", "--level", str(level))
    assert proc.returncode == 0, proc.stdout
    table = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if line.count("│") > 2}
    for name in systems.all_systems():
        row = table[name]
        if name in ("twister", "webgo"):
            assert "not buildable" in row
        else:
            assert row.count("pass") == 7, row  # six endpoints and the result
    assert_nothing_of_the_apps_runs(lab)


def assert_nothing_of_the_apps_runs(lab) -> None:
    """Every system that verify started is stopped: no process of it, its ports free."""
    srv = by_group(lab, "server")
    d = shared_defaults()
    listening = sh(srv, "ss -Htln | awk '{print $4}' | sed 's/.*://' | sort -u").split()
    assert not APP_PORTS & {int(p) for p in listening if p.isdigit()}
    procs = sh(srv, f"ps -o pid=,args= -u {d['common_app_user']} || true")
    lines = [ln for ln in procs.splitlines() if "redis-server" not in ln]
    assert lines == [], lines


def test_go_http_runs_in_its_jail_as_the_app_user(lab, built):
    srv = by_group(lab, "server")
    d = shared_defaults()
    jail = f"{d['chroot_jail_dir']}/go-http"
    assert wbl("app", "start", "go-http", "--level", "2").returncode == 0
    try:
        pid = sh(srv, "pgrep -x go-http").split()[0]
        assert sh(srv, f"readlink /proc/{pid}/root").strip() == jail
        uid = sh(srv, f"id -u {d['common_app_user']}").strip()
        assert sh(srv, f"awk '/^Uid:/ {{print $2}}' /proc/{pid}/status").strip() == uid
        assert "GOMAXPROCS=2" in sh(srv, f"tr '\\0' '\\n' < /proc/{pid}/environ")
        # Only the static binary: no shell, no other executable, nothing writable by the app user.
        assert sh(srv, f"find {jail} -mindepth 1").split() == [f"{jail}/go-http"]
        assert sh(srv, f"test ! -e {jail}/bin/sh && echo no-shell").strip() == "no-shell"
        owners = sh(srv, f"stat -c '%U %a' {jail} {jail}/go-http").split()
        assert owners == ["root", "755", "root", "555"]
        # Statically linked: no program interpreter (PT_INTERP) and no dynamic section (PT_DYNAMIC)
        # among the ELF program headers (the hosts have neither `file` nor `readelf`).
        assert sh(srv, f"python3 -c {shlex.quote(ELF_SEGMENTS)} {jail}/go-http").split() == ["static"]
    finally:
        assert wbl("app", "stop", "go-http").returncode == 0
    assert sh(srv, "pgrep -x go-http || echo gone").strip() == "gone"


def test_python_systems_run_as_the_app_user_and_stop_for_sure(lab, built):
    srv = by_group(lab, "server")
    d = shared_defaults()
    assert wbl("app", "start", "webpy-nginx", "--level", "2").returncode == 0
    users = sh(srv, "ps -eo user=,args= | grep -E 'nginx|wbapps|spawn-fcgi' | grep -v grep")
    assert users.strip() and all(ln.split()[0] == d["common_app_user"] for ln in users.splitlines())
    assert users.count("wbapps.serve flup") == 2, users
    stop = wbl("app", "stop", "webpy-nginx")
    assert stop.returncode == 0 and "ports are free" in stop.stdout
    assert_nothing_of_the_apps_runs(lab)


def test_bad_input_leaves_the_lab_as_it_was(lab, built):
    assert wbl("app", "start", "tornado").returncode == 0
    try:
        busy = wbl("app", "start", "gin")
        assert busy.returncode == 2 and "port 8000 is already in use" in busy.stderr
        again = wbl("app", "start", "tornado")
        assert again.returncode == 2 and "already running" in again.stderr
        for args, message in [
            (("app", "start", "twister"), "not buildable"),
            (("app", "start", "nosuch"), "unknown system 'nosuch'"),
            (("app", "start", "gin", "--level", "two"), "positive integer"),
        ]:
            proc = wbl(*args)
            assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        # tornado is untouched and still right.
        assert wbl("verify", "tornado").returncode == 0
    finally:
        assert wbl("app", "stop", "tornado").returncode == 0
    assert_nothing_of_the_apps_runs(lab)
