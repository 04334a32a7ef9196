"""apt-cacher-ng on the management bridge: the hosts' only way to Debian's packages.

Its default Debian backend list points at a mirror this machine cannot reach (503 Host not found),
so the lab writes its own config whose backend is the mirror the control machine's apt uses.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.errors import LabFailure
from webbench_lab.fsutil import write_atomic
from webbench_lab.locallab.topology import APT_PROXY_PORT, Topology
from webbench_lab.paths import cache_dir, run_dir
from webbench_lab.templating import render


def _conf_dir() -> Path:
    return run_dir() / "apt-cacher-ng"


def _pid_file() -> Path:
    return _conf_dir() / "apt-cacher-ng.pid"


def start(topo: Topology, mirror: str) -> None:
    if running_pid():
        return
    conf = _conf_dir()
    cache = cache_dir() / "apt"
    logs = conf / "log"
    for d in (conf, cache, logs):
        d.mkdir(parents=True, exist_ok=True)
    security = mirror.rsplit("/", 1)[0] + "/debian-security"
    write_atomic(
        conf / "acng.conf",
        render(
            "locallab/acng.conf.j2",
            cache_dir=cache,
            log_dir=logs,
            bind_address=topo.bridge_ip,
            port=APT_PROXY_PORT,
            pid_file=_pid_file(),
            security_backend=security,
        ),
    )
    write_atomic(conf / "backends_debian", mirror.rstrip("/") + "/\n")
    run(["apt-cacher-ng", "-c", str(conf)])
    _wait_port(topo.bridge_ip, APT_PROXY_PORT, timeout=15)


def running_pid() -> int | None:
    try:
        pid = int(_pid_file().read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop() -> None:
    pid = running_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    _pid_file().unlink(missing_ok=True)


def _wait_port(addr: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((addr, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise LabFailure(
        f"apt-cacher-ng did not listen on {addr}:{port} within {timeout:.0f} s; see {_conf_dir() / 'log'}"
    )
