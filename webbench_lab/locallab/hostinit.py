"""PID 1 of a local lab host: set up its root tree, run its sshd, reap orphans.

Started by the lab inside the host's network namespace as
`unshare --mount --uts --pid --fork -- python3 hostinit.py ROOT HOSTNAME [CONTROLLER ...]`,
so it is PID 1 of a new
PID namespace with its own mount and UTS namespaces. When it dies the kernel kills every process
of the host, which is how `lab down` stops a host for sure. Standard library only: it runs with
the control machine's Python, before anything is installed in the host.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile

DEVICES = {  # name: (major, minor), the character devices a minimal Linux host needs
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


BINDS_ENV = "WEBBENCH_HOST_BINDS"  # "SRC:DEST[,SRC:DEST...]": control machine dirs shown in the host


def bind_caches(root: str, spec: str) -> None:
    """Each control machine directory SRC at DEST in the host (created if missing), in the host's
    own mount namespace, so it goes when the host does: the lab's shared build caches."""
    for pair in filter(None, spec.split(",")):
        src, _, dest = pair.partition(":")
        os.makedirs(f"{root}{dest}", mode=0o755, exist_ok=True)
        _mount("--bind", src, f"{root}{dest}")


def prepare_root(root: str, hostname: str, controllers: list[str] | None = None) -> None:
    socket.sethostname(hostname)
    bind_caches(root, os.environ.get(BINDS_ENV, ""))
    _mount("-t", "proc", "proc", f"{root}/proc")
    _mount("-t", "sysfs", "sysfs", f"{root}/sys")
    show_cgroups(root, controllers or [])
    # A private /dev with only the usual devices: the host cannot see the control machine's disks.
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid", "dev", f"{root}/dev")
    for name, (major, minor) in DEVICES.items():
        path = f"{root}/dev/{name}"
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for sub in ("pts", "shm"):
        os.makedirs(f"{root}/dev/{sub}", exist_ok=True)
    _mount(
        "-t",
        "devpts",
        "-o",
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
        "devpts",
        f"{root}/dev/pts",
    )
    os.symlink("pts/ptmx", f"{root}/dev/ptmx")
    _mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "shm", f"{root}/dev/shm")
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{root}/dev/{link}")
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "run", f"{root}/run")
    os.makedirs(f"{root}/run/sshd", mode=0o755, exist_ok=True)
    os.makedirs(f"{root}/run/lock", mode=0o1777, exist_ok=True)


def show_cgroups(root: str, controllers: list[str]) -> None:
    """This process's own cgroups for `controllers` (its cpuset, its CPU limit: the lab put it in
    them before exec), read-only where a machine has them (/sys/fs/cgroup/<controller>): the audit
    and a sysadmin read the limits from inside the host, as on a real machine, and the host cannot
    change them. `ip netns exec` remounted /sys without the cgroup mounts, so each hierarchy is
    mounted again (with the controllers /proc/self/cgroup names for it) just long enough to bind
    the group."""
    if not controllers:
        return
    top = f"{root}/sys/fs/cgroup"
    _mount("-t", "tmpfs", "-o", "mode=0755,nosuid,nodev,noexec", "cgroup", top)
    own = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _hid, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(","):
                own[name] = (names, path)
    for controller in controllers:
        names, path = own[controller]
        where = f"{top}/{controller}"
        os.makedirs(where, exist_ok=True)
        hierarchy = tempfile.mkdtemp(prefix="webbench-cgroup-")
        try:
            _mount("-t", "cgroup", "-o", names, "cgroup", hierarchy)
            try:
                _mount("--bind", f"{hierarchy}{path}", where)
            finally:
                _mount_undo(hierarchy)
        finally:
            os.rmdir(hierarchy)
        _mount("-o", "remount,bind,ro", where)
    _mount("-o", "remount,ro", top)


def _mount_undo(point: str) -> None:
    subprocess.run(["umount", point], check=True)


def start_sshd(root: str) -> int:
    pid = os.fork()
    if pid == 0:
        os.chroot(root)
        os.chdir("/")
        os.setsid()
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
        }
        os.execve("/usr/sbin/sshd", ["/usr/sbin/sshd", "-D", "-e"], env)
    return pid


def main() -> int:
    root, hostname = sys.argv[1], sys.argv[2]
    prepare_root(root, hostname, sys.argv[3:])
    sshd = start_sshd(root)
    print(f"hostinit: {hostname} up, sshd pid {sshd}", flush=True)

    def stop(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        if pid == sshd:
            print(f"hostinit: sshd exited ({status}); the host is down", flush=True)
            return 1


if __name__ == "__main__":
    raise SystemExit(main())
