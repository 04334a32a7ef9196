"""Start and stop one local lab host: an overlay root tree, its own namespaces, its own sshd."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.fsutil import write_atomic
from webbench_lab.hosts.keys import make_host_key
from webbench_lab.locallab import cpulimit, cpusets, login, network
from webbench_lab.locallab.hostinit import BINDS_ENV
from webbench_lab.locallab.topology import HostSpec, Topology
from webbench_lab.paths import go_build_cache, run_dir
from webbench_lab.templating import render

HOSTINIT = Path(__file__).with_name("hostinit.py")
APT_VALIDITY_KEYS = ("Acquire::Check-Valid-Until", "Acquire::Check-Date")


def host_dir(name: str) -> Path:
    return run_dir() / "hosts" / name


def root_of(name: str) -> Path:
    return host_dir(name) / "root"


def mount_overlay(host: HostSpec, lower: Path) -> Path:
    """A fresh copy-on-write root: an empty upper layer over the cached Debian tree."""
    base = host_dir(host.name)
    root = base / "root"
    if os.path.ismount(root):
        return root
    for sub in ("upper", "work"):
        shutil.rmtree(base / sub, ignore_errors=True)
        (base / sub).mkdir(parents=True)
    root.mkdir(parents=True, exist_ok=True)
    opts = f"lowerdir={lower},upperdir={base / 'upper'},workdir={base / 'work'}"
    run(["mount", "-t", "overlay", "overlay", "-o", opts, str(root)])
    return root


def write_host_files(host: HostSpec, topo: Topology, authorized_key: str) -> str:
    """Machine-specific files a fresh machine would have: identity, sshd, its login, apt. Returns
    the host key."""
    root = root_of(host.name)
    etc = root / "etc"
    (etc / "hostname").write_text(host.name + "\n")
    peers = {h.name: h.bench_ip for h in topo.hosts}
    (etc / "hosts").write_text(render("host/hosts.j2", hostname=host.name, bench_peers=peers))
    (etc / "resolv.conf").unlink(missing_ok=True)
    (etc / "resolv.conf").write_text(render("host/resolv.conf.j2"))
    (etc / "machine-id").write_text(os.urandom(16).hex() + "\n")
    public = make_host_key(etc / "ssh" / "ssh_host_ed25519_key")
    (etc / "ssh" / "sshd_config.d" / "webbench-lab.conf").write_text(
        login.sshd_config(host.name, host.mgmt_ip, topo.ssh_port, topo.login_user)
    )
    if topo.become:  # as a real machine: root has no key to log in with, the login user sudo
        login.add_user(root, topo.login_user, authorized_key)
    else:
        ssh_dir = root / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        write_atomic(ssh_dir / "authorized_keys", authorized_key, mode=0o600)
    _copy_apt_sources(etc / "apt")
    return public


def _copy_apt_sources(dest: Path) -> None:
    """Same sources (and Release validity settings) as the control machine; the proxy comes later."""
    src = Path("/etc/apt")
    (dest / "sources.list").unlink(missing_ok=True)
    if (src / "sources.list").is_file():
        shutil.copy(src / "sources.list", dest / "sources.list")
    for f in sorted((src / "sources.list.d").glob("*")):
        if f.suffix in (".list", ".sources") and f.is_file():
            shutil.copy(f, dest / "sources.list.d" / f.name)
    dump = run(["apt-config", "dump"], check=False).stdout
    settings = {}
    for line in dump.splitlines():
        key, _, value = line.partition(" ")
        if key in APT_VALIDITY_KEYS:
            settings[key] = value.strip().strip(";").strip('"')
    if settings:
        (dest / "apt.conf.d" / "50webbench-lab-validity").write_text(
            render("host/apt-validity.conf.j2", settings=settings)
        )


def start(host: HostSpec) -> int:
    """Run hostinit as PID 1 of new PID/mount/UTS namespaces inside the host's netns, its cpuset
    and, with a CPU limit, its cpu cgroup (both shown read-only inside the host)."""
    root = root_of(host.name)
    log = host_dir(host.name) / "init.log"
    groups = {}
    if cpusets.available():
        groups["cpuset"] = cpusets.create(host.name, host.cpus)
    if host.cpu_limit is not None:
        groups["cpu"] = cpulimit.create(host.name, host.cpu_limit)
    args = [
        "ip",
        "netns",
        "exec",
        host.netns,
        "unshare",
        "--mount",
        "--uts",
        "--pid",
        "--fork",
        "--propagation",
        "private",
        "--",
        sys.executable,
        str(HOSTINIT),
        str(root),
        host.name,
        *groups,  # the controllers whose group hostinit shows inside the host
    ]
    env = {**os.environ, BINDS_ENV: ",".join(f"{src}:{dest}" for src, dest in shared_caches())}
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: _join(list(groups.values()))) if groups else None,
        )
    (host_dir(host.name) / "init.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def shared_caches() -> list[tuple[Path, str]]:
    """Control machine directories every local host sees (hostinit.bind_caches): Go's build cache,
    so that a lab built after another compiles only what changed. Go keys every entry by its
    inputs (sources, toolchain, flags), so nothing reused can hide a change; `make clean-cache`
    empties it."""
    go_build = go_build_cache()
    go_build.mkdir(parents=True, exist_ok=True)
    return [(go_build, f"{host_vars({})['apps_cache_root']}/go-build")]


def _join(groups: list[Path]) -> None:
    """Move the calling process into each group (before exec, so the whole host inherits them)."""
    for group in groups:
        (group / "cgroup.procs").write_text(str(os.getpid()))


def wait_for_sshd(host: HostSpec, port: int = login.SSH_PORT, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection((host.mgmt_ip, port), timeout=1) as s,
        ):
            if s.recv(64).startswith(b"SSH-"):
                return
        time.sleep(0.2)
    log = host_dir(host.name) / "init.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.is_file() else []
    raise LabFailure(
        f"host {host.name}: sshd did not answer on {host.mgmt_ip}:{port} within {timeout:.0f} s "
        f"({' | '.join(tail) or 'no output'}); see {log}"
    )


def is_running(host: HostSpec) -> bool:
    return bool(network.netns_pids(host.netns)) if host.netns in network.lab_namespaces() else False


def stop(name: str, netns: str) -> None:
    """Kill every process in the host's namespace (its PID 1 first), then unmount its root."""
    for _ in range(50):
        pids = network.netns_pids(netns) if netns in network.lab_namespaces() else []
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    else:
        raise LabFailure(f"host {name}: processes in {netns} would not die")
    root = root_of(name)
    # Mounts under the root live in the host's own mount namespace and died with it; the overlay
    # itself is mounted in ours.
    for _ in range(20):
        if not os.path.ismount(root):
            break
        if run(["umount", str(root)], check=False).returncode != 0:
            time.sleep(0.2)
    if os.path.ismount(root):
        run(["umount", "--lazy", str(root)])
    shutil.rmtree(host_dir(name), ignore_errors=True)
