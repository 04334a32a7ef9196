"""appctl: the lab's process agent on each host (standard library only; runs with the host's python3).

The control machine sends a launch spec over SSH; appctl starts its processes as one supervised
group, so that stop can end every one of them for sure:

- start: a supervisor is forked into its own session (pid = pgid), starts every process of the
  spec with the marker WEBBENCH_APP=<name> in its environment, writes the pid file, and waits;
  appctl returns when every port of the spec accepts connections (or fails with the log's tail).
- stop: TERM to the process group and to every process carrying the marker (daemons such as
  spawn-fcgi's children leave the group), KILL after a grace period, then confirm the ports free.
- run: the load, to completion, with SIGINT then SIGKILL for a tool that overstays its time.
- quiet: wait until the host's CPUs are idle (before a measurement is retried).
- calibrate: fixed work on this host's CPUs, timed in CPU time: the machine's speed beside a case.
- guard: a benchmark run's hold on this host, for as long as the driver's SSH channel lives: one
  run at a time; every process the run starts carries its id (WEBBENCH_RUN_ID in the agent's
  environment becomes <marker>_RUN in theirs); when the driver stops renewing (its connection
  closed, it was killed, its machine died), the guard ends every process of the run.
- status, processes, owner, ports, probe (HTTP GETs for the verification gate, answers in base64).

Every answer is one JSON object on stdout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, NotRequired, TypedDict, cast

# --- the contract: what the control machine sends and what each command answers ------------------
# The control side imports these types (webbench_lab.agent.appctl); this file stays standard-library
# only, because it is copied as it is to every host.


class ProcessSpec(TypedDict):
    argv: list[str]
    env: NotRequired[dict[str, str]]
    cwd: NotRequired[str]
    out: NotRequired[str]  # run: the file that gets the process's output


class LaunchSpec(TypedDict):
    """`start`: a supervised group of processes, ready when its ports (and sockets) answer."""

    name: str
    ports: list[int]
    processes: list[ProcessSpec]
    wait: float
    files: NotRequired[dict[str, str]]  # relative to the run directory -> text
    writable: NotRequired[list[str]]
    owner: NotRequired[str]
    log: NotRequired[str]
    address: NotRequired[str]
    unix_sockets: NotRequired[list[str]]
    ready_path: NotRequired[str]
    ready_ports: NotRequired[list[int]]
    meta: NotRequired[dict[str, Any]]


class RunSpec(TypedDict):
    """`run`: processes run at once to completion (the load), with SIGINT then SIGKILL."""

    name: str
    processes: list[ProcessSpec]
    files: dict[str, str]
    interrupt_after: float
    kill_after: float
    timeout: float


class ProbeSpec(TypedDict):
    urls: list[str]


class StartAnswer(TypedDict):
    ok: bool
    pid: NotRequired[int]
    ports: NotRequired[list[int]]
    log: NotRequired[str]
    error: NotRequired[str]
    log_tail: NotRequired[list[str]]


class StopAnswer(TypedDict):
    ok: bool
    killed: bool
    left: list[int]
    busy_ports: list[int]
    error: NotRequired[str]


class SystemStatus(TypedDict):
    running: bool
    pid: int | None
    processes: list[int]
    meta: dict[str, Any]  # what `start` was given as meta (the level), {} when not running


class StatusAnswer(TypedDict):
    ok: bool
    systems: dict[str, SystemStatus]
    listening: list[int]


class ProbeAnswer(TypedDict):
    ok: bool
    answers: list[dict[str, Any]]


class RunAnswer(TypedDict):
    ok: bool
    exit_codes: list[int]
    interrupted: list[bool]
    killed: list[bool]
    ended: list[str]  # exited | interrupted | killed
    seconds: float
    error: NotRequired[str]


class LabProcess(TypedDict):
    pid: int
    name: str  # the system, service, load or sampler it belongs to
    run: str  # the id of the run that started it, "" for a process started outside a run
    args: str


class RunLease(TypedDict):
    """What a guard writes while it holds the host for a run (and what `owner` reads)."""

    run_id: str
    started: str
    control_host: str
    driver_pid: int
    results: str
    guard_pid: int


class GuardAnswer(TypedDict):
    """`guard`: first line: the host is the run's (ok) or another run's (held_by); last line: what
    it ended and why (reason: None after a clean end)."""

    ok: bool
    held_by: NotRequired[RunLease]
    error: NotRequired[str]
    dead_run: NotRequired[dict[str, Any] | None]  # how the last run without a clean end ended
    ended: NotRequired[list[LabProcess]]  # processes of other runs ended now / this run's at the end
    reason: NotRequired[str | None]


class ProcessesAnswer(TypedDict):
    ok: bool
    processes: list[LabProcess]
    lease: RunLease | None  # the run holding this host now, None when none


class QuietAnswer(TypedDict):
    ok: bool
    quiet: bool
    cpu_pct: float | None  # this host's processes, percent of the CPUs it may use
    machine_cpu_pct: NotRequired[float | None]  # those CPUs' total, other tenants' work included
    waited_s: float


class CalibrationAnswer(TypedDict):
    ok: bool
    cpu_loop_ns: float  # one iteration of a pure-Python integer loop
    memory_us_per_mib: float  # copying a MiB between two buffers far larger than the caches
    loopback_rtt_us: float  # one 64-byte request and reply on an open TCP connection over loopback
    loopback_connect_us: float  # one connection: connect, request, reply, close (both ends)
    cpu_s: float  # the CPU time the calibration took in all
    wall_s: float


RUN_ROOT = Path(os.environ.get("WEBBENCH_RUN_ROOT", "/var/lib/webbench/run"))
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what every process it starts gets
# The marker's name can be changed for the control machine's own tests, so that they never touch
# a lab's processes on the same machine.
MARKER = os.environ.get("WEBBENCH_MARKER", "WEBBENCH_APP")


def run_marker(marker: str = MARKER) -> str:
    """The name of the variable that holds the id of the run that started a process."""
    return f"{marker}_RUN"


RUN_MARKER = run_marker()
LEASE = "run-lease.json"  # in RUN_ROOT, while a guard holds the host
DEAD_RUN = "dead-run.json"  # in RUN_ROOT, what a guard ended when its driver went away


def _run_env() -> dict[str, str]:
    """The run id (from the control machine, WEBBENCH_RUN_ID) that every process started gets."""
    run_id = os.environ.get("WEBBENCH_RUN_ID", "")
    return {RUN_MARKER: run_id} if run_id else {}


def _run_dir(name: str) -> Path:
    return RUN_ROOT / name


def _pid_file(name: str) -> Path:
    return _run_dir(name) / "supervisor.pid"


def proc_stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (state first; the name may hold spaces
    and parentheses, so it is cut at the last ')'); OSError when the process is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = proc_stat(pid)[0]
    except OSError:
        return False
    return state != "Z"


class _Proc(NamedTuple):
    """One process as /proc/<pid>/stat gives it: what every reading here needs, in one file."""

    state: str
    sid: int
    cpu: int  # utime + stime, in ticks
    cpu_all: int  # with its reaped children's (cutime + cstime)
    rss_kb: int
    started: str  # start time since boot, in ticks: with the pid, who the process is


_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _scan() -> dict[int, _Proc]:
    """Every process visible here, zombies included (their time still counts), from one read of
    each one's stat: a sampler on a server at its CPU limit pays for every file it opens (a bare
    os.read costs a third of Path.read_text's 19 us here)."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{entry.name}/stat", os.O_RDONLY)
            try:
                f = os.read(fd, 4096).rsplit(b")", 1)[1].split()
            finally:
                os.close(fd)
            cpu = int(f[11]) + int(f[12])
            reaped = int(f[13]) + int(f[14])
            state, started = f[0].decode(), f[19].decode()
            found[int(entry.name)] = _Proc(
                state, int(f[3]), cpu, cpu + reaped, int(f[21]) * _PAGE_KB, started
            )
        except (OSError, IndexError, ValueError):
            continue
    return found


def _environ(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def _env_value(env: list[bytes], name: str) -> str | None:
    """The value of `name` in an environment as /proc gives it (None when it is not set)."""
    prefix = f"{name}=".encode()
    return next((e[len(prefix) :].decode(errors="replace") for e in env if e.startswith(prefix)), None)


def _proc_table() -> dict[int, tuple[int, list[bytes]]]:
    """Every live process here (this one excepted): pid -> (its session id, its environment)."""
    table = {}
    for pid, proc in _scan().items():
        if pid == os.getpid() or proc.state in ("Z", "X"):
            continue
        with contextlib.suppress(OSError):
            table[pid] = (proc.sid, _environ(pid))
    return table


def _supervisors() -> dict[int, str]:
    """The session of each system a supervisor started: its pid (the session's id) -> the name.

    A process can lose its marker: nginx writes its process title over its environment. It keeps
    the session of the supervisor that started it (only a daemon leaves it, and spawn-fcgi's
    children keep the marker), so that session's members are the system's, marker or not."""
    found = {}
    with contextlib.suppress(OSError):
        for pid_file in RUN_ROOT.glob("*/supervisor.pid"):
            pid = _supervisor(pid_file.parent.name)
            if pid is not None:
                found[pid] = pid_file.parent.name
    return found


def _supervisor(name: str) -> int | None:
    """The pid of system `name`'s supervisor (its session's and group's id), when its pid file
    names it: the same process (boot and start time), or one that has exited in this boot."""
    run_dir = _run_dir(name)
    try:
        pid = int(_pid_file(name).read_text())
        recorded = (run_dir / "supervisor.id").read_text()
    except (OSError, ValueError):
        return None
    now = _identity(pid)
    return pid if now == recorded or (now is None and recorded.split(" ")[0] == _boot_id()) else None


def _identity(pid: int) -> str | None:
    """Who `pid` is: this boot and its start time, so that a pid file left by a crash never
    names another process (None when it has exited: a session id is not reused while any
    process is still in that session)."""
    try:
        started = proc_stat(pid)[19]
    except (OSError, IndexError):
        return None
    return f"{_boot_id()} {started}"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _members(table: dict[int, tuple[int, list[bytes]]]) -> dict[int, str]:
    """Each process of the lab here -> the system it belongs to (its marker, else its session)."""
    sessions = _supervisors()
    found = {}
    for pid, (sid, env) in table.items():
        name = _env_value(env, MARKER)
        if name is not None:
            found[pid] = name
        elif sid in sessions and pid != sid:  # the supervisor itself ends with its processes
            found[pid] = sessions[sid]
    return found


def _marked(name: str) -> list[int]:
    """Every process of system `name`: its marker WEBBENCH_APP=<name>, or its supervisor's session."""
    return sorted(pid for pid, owner in _members(_proc_table()).items() if owner == name)


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _port_owner(port: int) -> str:
    """Who listens on `port` (best effort, for the error line)."""
    try:
        out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True)
        users = out.stdout.strip().split("users:")[-1] if "users:" in out.stdout else ""
        return users.strip("()")
    except OSError:
        return ""


def _answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ready(port: int, path: str) -> bool:
    """The application behind the port answers (a front end alone answering 502 is not enough)."""
    import http.client  # here, not at the top: it imports ssl, which the control side must not yet

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _unix_answers(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            sock.connect(path)
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 8) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def _supervise(spec: LaunchSpec, log: Path) -> None:
    """Runs in the forked supervisor (its own session): start the processes, wait for them."""
    name = spec["name"]
    env_base = {
        "PATH": PATH,
        "LANG": "C.UTF-8",
        MARKER: name,
        **_run_env(),
    }
    children = []
    with open(log, "ab", buffering=0) as out:
        for proc in spec["processes"]:
            env = {**env_base, **proc.get("env", {})}
            out.write(f"appctl: starting {' '.join(proc['argv'])}\n".encode())
            children.append(
                subprocess.Popen(
                    proc["argv"],
                    env=env,
                    cwd=proc.get("cwd", "/"),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                )
            )

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        while True:
            try:
                child.wait()
                break
            except InterruptedError:
                continue


def start(spec: LaunchSpec) -> StartAnswer:
    name = spec["name"]
    run_dir = _run_dir(name)
    pid_file = _pid_file(name)
    supervisor = _supervisor(name)
    if supervisor is not None and _alive(supervisor):
        return {"ok": False, "error": f"{name} is already running (pid {supervisor})"}
    busy = sorted(set(spec["ports"]) & listening_ports())
    if busy:
        owner = _port_owner(busy[0])
        return {"ok": False, "error": f"port {busy[0]} is already in use{' by ' + owner if owner else ''}"}
    run_dir.mkdir(parents=True, exist_ok=True)
    for rel, text in spec.get("files", {}).items():
        path = run_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for rel in spec.get("writable", []):
        (run_dir / rel).mkdir(parents=True, exist_ok=True)
        if "owner" in spec:
            import pwd

            pw = pwd.getpwnam(spec["owner"])
            os.chown(run_dir / rel, pw.pw_uid, pw.pw_gid)
    log = Path(spec.get("log", run_dir / "app.log"))
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        fh.write(f"\nappctl: start {name} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())

    (run_dir / "run-id").write_text(_run_env().get(RUN_MARKER, ""))  # for processes that lose the marker
    pid = os.fork()
    if pid == 0:  # the supervisor
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            _supervise(spec, log)
        finally:
            os._exit(0)
    (run_dir / "supervisor.id").write_text(_identity(pid) or "")
    pid_file.write_text(f"{pid}\n")
    (run_dir / "ports.json").write_text(json.dumps(spec["ports"]))
    (run_dir / "meta.json").write_text(json.dumps(spec.get("meta", {})))

    deadline = time.monotonic() + spec.get("wait", 30)
    ports = spec["ports"]
    address = spec.get("address", "127.0.0.1")
    exited = False
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            exited = True  # the supervisor ended: every process of the system exited
            break
        sockets = spec.get("unix_sockets", [])
        ready = spec.get("ready_path")
        if (
            all(_answers(p, address) for p in ports)
            and all(_unix_answers(u) for u in sockets)
            and (not ready or all(_http_ready(p, ready) for p in spec.get("ready_ports", [])))
        ):
            return {"ok": True, "pid": pid, "ports": ports, "log": str(log)}
        time.sleep(0.1)
    missing = [p for p in ports if not _answers(p, address)]
    stop(name)
    if exited:
        why = "its processes exited before every port answered"
    else:
        why = f"ports {missing} did not answer within {spec.get('wait', 30)} s"
    return {"ok": False, "error": f"{name}: {why}", "log_tail": _tail(log), "log": str(log)}


def stop(name: str, ports: list[int] | None = None, grace: float = 5.0) -> StopAnswer:
    pid_file = _pid_file(name)
    ports_file = _run_dir(name) / "ports.json"
    ports = sorted(set(ports or []) | set(json.loads(ports_file.read_text()) if ports_file.is_file() else []))
    pgid = _supervisor(name)

    def signal_all(sig: int) -> list[int]:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
        left = _marked(name)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return left

    signal_all(signal.SIGTERM)
    escalated = False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (_marked(name) or (pgid and _alive(pgid))):
        time.sleep(0.1)
    if _marked(name) or (pgid and _alive(pgid)):
        escalated = True
        for _ in range(50):
            if not signal_all(signal.SIGKILL) and not (pgid and _alive(pgid)):
                break
            time.sleep(0.1)
    left = _marked(name)
    pid_file.unlink(missing_ok=True)
    # A closing listener can take a moment to leave the table.
    for _ in range(30):
        busy = sorted(set(ports) & listening_ports())
        if not busy:
            break
        time.sleep(0.1)
    ok = not left and not busy
    result: StopAnswer = {"ok": ok, "killed": escalated, "left": left, "busy_ports": busy}
    if not ok:
        result["error"] = f"{name}: processes {left} or ports {busy} remain after KILL"
    return result


def status(names: list[str]) -> StatusAnswer:
    out: dict[str, SystemStatus] = {}
    for name in names:
        pid = _supervisor(name)
        running = bool(pid and _alive(pid))
        meta_file = _run_dir(name) / "meta.json"
        meta = json.loads(meta_file.read_text()) if running and meta_file.is_file() else {}
        out[name] = {
            "running": running,
            "pid": pid if running else None,
            "processes": _marked(name),
            "meta": meta,
        }
    return {"ok": True, "systems": out, "listening": sorted(listening_ports())}


def lab_processes() -> list[LabProcess]:
    """Every live process of the lab on this host, with its run id: those carrying the marker, and
    those that lost it but stay in their supervisor's session (the run id the system was started
    with is in its run directory)."""
    table = _proc_table()
    found: list[LabProcess] = []
    for pid, name in _members(table).items():
        env = table[pid][1]
        run = _env_value(env, RUN_MARKER)
        if run is None:
            run = _read_run_id(name)
        try:
            args = (Path(f"/proc/{pid}") / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        text = args.decode(errors="replace").strip()[:200]
        found.append({"pid": pid, "name": name, "run": run, "args": text})
    return sorted(found, key=lambda p: p["pid"])


def _read_run_id(name: str) -> str:
    try:
        return (_run_dir(name) / "run-id").read_text().strip()
    except OSError:
        return ""


def end_processes(procs: list[LabProcess], grace: float = 5.0) -> list[LabProcess]:
    """TERM, then KILL after `grace` seconds, to each process (and its process group if it leads
    one); the pid files of the systems they were are removed. Returns those that were alive."""
    alive = [p for p in procs if _alive(p["pid"])]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc["pid"], sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline and any(_alive(p["pid"]) for p in alive):
            time.sleep(0.1)
    for name in {p["name"] for p in alive}:
        pid_file = _pid_file(name)
        with contextlib.suppress(OSError, ValueError):
            if not _alive(int(pid_file.read_text())):
                pid_file.unlink()
    return alive


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _emit(answer: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


def guard(run_id: str, info: dict[str, Any], ttl: float, stdin_fd: int = 0) -> int:
    """Hold this host for run `run_id` while the driver renews (a line on standard input at least
    every `ttl` seconds); then end every process of the run. One guard at a time: a second run is
    told who holds the host. Leftovers of a run whose guard died too (a crash) are ended first."""
    import fcntl
    import select

    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    lock = open(RUN_ROOT / ".guard.lock", "a")  # noqa: SIM115 - held (locked) for the guard's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        held = _read_json(RUN_ROOT / LEASE) or {}
        _emit({"ok": False, "held_by": held, "error": f"run {held.get('run_id', '?')} holds this host"})
        return 1
    dead = _read_json(RUN_ROOT / DEAD_RUN)
    stale = _read_json(RUN_ROOT / LEASE)  # a lease with no guard: that guard died with its host
    if stale and not dead:
        dead = {"run": stale, "reason": "its guard died (the host restarted or the guard was killed)"}
    leftovers = end_processes([p for p in lab_processes() if p["run"] and p["run"] != run_id])
    if dead is not None:
        dead["ended_later"] = leftovers
    elif leftovers:
        dead = {"run": None, "reason": "processes of other runs were still running", "ended_later": leftovers}
    (RUN_ROOT / DEAD_RUN).unlink(missing_ok=True)
    lease: RunLease = {
        "run_id": run_id,
        "started": str(info.get("started", "")),
        "control_host": str(info.get("control_host", "")),
        "driver_pid": int(info.get("driver_pid", 0)),
        "results": str(info.get("results", "")),
        "guard_pid": os.getpid(),
    }
    tmp = RUN_ROOT / f".{LEASE}.tmp"
    tmp.write_text(json.dumps(lease))
    tmp.replace(RUN_ROOT / LEASE)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the channel's end is read as EOF below
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    _emit({"ok": True, "dead_run": dead, "ended": leftovers})
    reason: str | None = "the guard was stopped"
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            ready, _, _ = select.select([stdin_fd], [], [], ttl)
            if not ready:
                reason = f"the driver did not renew its lease for {ttl:g} s"
                break
            chunk = os.read(stdin_fd, 4096)
            if not chunk:
                reason = "the driver's connection closed"
                break
            if b"end" in chunk.split():
                reason = None
                break
    ended = end_processes([p for p in lab_processes() if p["run"] == run_id])
    if reason is not None:
        record = {"run": lease, "reason": reason, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (RUN_ROOT / DEAD_RUN).write_text(json.dumps({**record, "ended": ended}))
    (RUN_ROOT / LEASE).unlink(missing_ok=True)
    _emit({"ok": True, "ended": ended, "reason": reason})
    return 0


def processes() -> ProcessesAnswer:
    """Every process of the lab here, and the run that holds the host (if its guard lives)."""
    import fcntl

    lease: RunLease | None = None
    path = RUN_ROOT / ".guard.lock"
    if path.is_file():
        with open(path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(lock, fcntl.LOCK_UN)
            except BlockingIOError:
                lease = cast(RunLease, _read_json(RUN_ROOT / LEASE) or {"run_id": "?"})
    return {"ok": True, "processes": lab_processes(), "lease": lease}


def probe(urls: list[str], timeout: float = 30.0) -> ProbeAnswer:
    """GET each URL with a plain HTTP/1.1 client: status, headers, framing and exact body bytes."""
    import http.client

    answers = []
    for url in urls:
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
        try:
            conn.request("GET", "/" + path)
            resp = conn.getresponse()
            body = resp.read()
            answers.append(
                {
                    "url": url,
                    "status": resp.status,
                    "headers": [[k, v] for k, v in resp.getheaders()],
                    "chunked": resp.chunked if hasattr(resp, "chunked") else False,
                    "body": base64.b64encode(body).decode(),
                }
            )
        except (OSError, http.client.HTTPException) as exc:
            answers.append({"url": url, "error": f"{type(exc).__name__}: {exc}"})
        finally:
            conn.close()
    return {"ok": True, "answers": answers}


def run(spec: RunSpec) -> RunAnswer:
    """Run the spec's processes at once to completion (the load), each writing its own output
    file; marked like a system so that `stop <name>` ends them for sure from another session.

    A load tool can hang after its time is up (siege 4.0.7 deadlocks with SIGINT blocked in every
    thread), so each process gets, in turn: SIGINT at `interrupt_after` seconds (siege, wrk and k6
    then print their summary), SIGKILL to its whole process group `kill_after` seconds later, and
    SIGKILL at `timeout` in any case. Each process ends as "exited", "interrupted" or "killed".
    """
    name = spec["name"]
    run_dir = _run_dir(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    env_base = {
        "PATH": PATH,
        "LANG": "C.UTF-8",
        "HOME": str(run_dir),
        MARKER: name,
        **_run_env(),
    }
    for rel, text in spec.get("files", {}).items():
        (run_dir / rel).write_text(text)
    started = time.monotonic()
    children = []
    with contextlib.suppress(OSError):  # already a group leader: the marker still finds them
        os.setsid()
    for proc in spec["processes"]:
        out = open(proc["out"], "wb")  # noqa: SIM115 - closed below
        children.append(
            (
                subprocess.Popen(
                    proc["argv"],
                    env={**env_base, **proc.get("env", {})},
                    cwd=str(run_dir),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed as a whole
                ),
                out,
            )
        )
    timeout = float(spec.get("timeout", 600))
    interrupt_at = started + float(spec.get("interrupt_after", timeout))
    kill_after = float(spec.get("kill_after", 5))
    deadline = started + timeout
    sigint_at: list[float | None] = [None] * len(children)
    killed = [False] * len(children)
    while any(child.poll() is None for child, _ in children):
        now = time.monotonic()
        for i, (child, _) in enumerate(children):
            if child.poll() is not None:
                continue
            asked = sigint_at[i]
            if now >= deadline or (asked is not None and now >= asked + kill_after):
                _kill_group(child.pid)
                killed[i] = True
            elif sigint_at[i] is None and now >= interrupt_at:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGINT)
                sigint_at[i] = now
        if all(killed[i] or child.poll() is not None for i, (child, _) in enumerate(children)):
            break
        time.sleep(0.05)
    codes = []
    for child, out in children:
        codes.append(child.wait())
        out.close()
    interrupted = [t is not None for t in sigint_at]
    ended = [
        "killed" if k else "interrupted" if i else "exited" for k, i in zip(killed, interrupted, strict=True)
    ]
    return {
        "ok": True,
        "exit_codes": codes,
        "interrupted": interrupted,
        "killed": killed,
        "ended": ended,
        "seconds": round(time.monotonic() - started, 3),
    }


def _kill_group(pgid: int) -> None:
    """SIGKILL a whole process group: a hung tool's threads and any children it forked."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def quiet(threshold: float, window: float, timeout: float) -> QuietAnswer:
    """Wait until the processes of this host use less than `threshold` percent of the CPUs it may
    use, for `window` seconds, at most `timeout` seconds: a measurement starts from a quiet host.

    The processes this host can see (/proc), not the CPUs' total: a local lab host shares its
    CPUs with the machine's other tenants (the driver, other users' jobs), which are not the lab's;
    on a real machine every process is visible and both figures agree. The CPUs' total is reported
    beside it (machine_cpu_pct)."""
    hz = os.sysconf("SC_CLK_TCK")
    cpus = _allowed_cpus()
    step = 0.25
    started = time.monotonic()
    calm_since = started
    last_ticks, last_machine, last_t = _process_ticks(), _cpu_ticks(cpus), started
    pct = machine = None
    while True:
        time.sleep(step)
        ticks, busy, now = _process_ticks(), _cpu_ticks(cpus), time.monotonic()
        pct = 100.0 * max(0, ticks - last_ticks) / hz / (now - last_t) / len(cpus)
        machine = 100.0 * (busy - last_machine) / hz / (now - last_t) / len(cpus)
        last_ticks, last_machine, last_t = ticks, busy, now
        if pct >= threshold:
            calm_since = now
        if now - calm_since >= window or now - started >= timeout:
            break
    return {
        "ok": True,
        "quiet": now - calm_since >= window,
        "cpu_pct": round(pct, 1),
        "machine_cpu_pct": round(machine, 1),
        "waited_s": round(now - started, 2),
    }


# --- calibration: the same work every time, so that what changes is the machine --------------------
# Timed in CPU time, not wall time, so that a CPU quota (the local lab's server) and other tenants'
# turns on the CPU do not enter; what does enter is what one unit of work costs here and now:
# the CPU's speed, the caches and memory, the kernel's network path. Each figure is the median of
# a few chunks (an interrupt lands in one of them, not in the median).
CAL_CHUNKS = 5
CAL_LOOP = 100_000  # iterations per chunk: about 5 ms
CAL_MIB = 64  # each buffer: far larger than a last-level cache
CAL_RTT = 300  # round trips per chunk
CAL_CONNECT = 60  # connections per chunk


def _cpu_loop_ns() -> float:
    times = []
    for _ in range(CAL_CHUNKS):
        x, t0 = 0, time.thread_time_ns()
        for i in range(CAL_LOOP):
            x = (x + i * i) & 0xFFFF
        times.append((time.thread_time_ns() - t0) / CAL_LOOP)
    return statistics.median(times)


def _memory_us_per_mib() -> float:
    size = CAL_MIB << 20
    src = b"\x5a" * size  # written once: every page is there
    dst = bytearray(size)
    view = memoryview(dst)
    view[:] = src  # the first copy faults dst's pages in; not timed
    times = []
    for _ in range(CAL_CHUNKS):
        t0 = time.thread_time_ns()
        view[:] = src
        times.append((time.thread_time_ns() - t0) / 1000 / CAL_MIB)
    return statistics.median(times)


def _usage() -> float:
    """This process's CPU seconds so far, every thread's. (Its split into user and system time is
    sampled at the clock tick, too coarse for chunks of a few milliseconds: not used.)"""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _echo_server(listener: socket.socket, connections: int, requests: int) -> None:
    """Answer `requests` 64-byte requests on each of `connections` accepted connections."""
    for _ in range(connections):
        conn, _ = listener.accept()
        with conn:
            for _ in range(requests):
                data = conn.recv(64)
                if not data:
                    break
                conn.sendall(data)


def _loopback_us(connections: int, requests: int) -> float:
    """Median CPU microseconds (both ends) per connection made, or per request when a single
    connection carries them all (connections 1): each chunk is a fifth of the work."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    address = listener.getsockname()
    server = threading.Thread(target=_echo_server, args=(listener, connections, requests), daemon=True)
    server.start()
    message = b"x" * 64
    reuse = connections == 1
    units = requests if reuse else connections
    chunk = units // CAL_CHUNKS
    totals = []
    try:
        kept = socket.create_connection(address) if reuse else None
        for _ in range(CAL_CHUNKS):
            cpu0 = _usage()
            for _ in range(chunk):
                sock = kept or socket.create_connection(address)
                sock.sendall(message)
                sock.recv(64)
                if kept is None:
                    sock.close()
            totals.append((_usage() - cpu0) * 1e6 / chunk)
        if kept is not None:
            kept.close()
    finally:
        server.join(timeout=10)
        listener.close()
    return statistics.median(totals)


def calibrate() -> CalibrationAnswer:
    """The fixed calibration loads, one after the other, on the first of this host's CPUs: both
    ends of a loopback exchange on one CPU, as on a one-CPU server (on two CPUs a round trip
    cost 14 or 41 us depending on where the scheduler put the two threads)."""
    os.sched_setaffinity(0, {min(_allowed_cpus())})
    cpu0, wall0 = time.process_time(), time.monotonic()
    loop = _cpu_loop_ns()
    memory = _memory_us_per_mib()
    rtt = _loopback_us(1, CAL_CHUNKS * CAL_RTT)
    connect = _loopback_us(CAL_CHUNKS * CAL_CONNECT, 1)
    return {
        "ok": True,
        "cpu_loop_ns": round(loop, 2),
        "memory_us_per_mib": round(memory, 1),
        "loopback_rtt_us": round(rtt, 2),
        "loopback_connect_us": round(connect, 1),
        "cpu_s": round(time.process_time() - cpu0, 3),
        "wall_s": round(time.monotonic() - wall0, 3),
    }


def _process_ticks(scan: dict[int, _Proc] | None = None) -> int:
    """CPU ticks of every process visible here, their reaped children's included (so the sum
    does not drop when a child exits): what this host's processes have used so far."""
    return sum(p.cpu_all for p in (_scan() if scan is None else scan).values())


def _cpu_stat(cpus: set[int]) -> list[list[int]]:
    """The /proc/stat jiffies of each of the given CPUs: user nice system idle iowait irq softirq steal."""
    found = []
    for line in Path("/proc/stat").read_text().splitlines():
        head = line.split()[0] if line else ""
        if head.startswith("cpu") and head[3:].isdigit() and int(head[3:]) in cpus:
            found.append([int(x) for x in line.split()[1:9]])
    return found


def _cpu_ticks(cpus: set[int]) -> int:
    """Busy jiffies of the given CPUs (user+nice+system+irq+softirq+steal)."""
    return sum(f[0] + f[1] + f[2] + f[5] + f[6] + f[7] for f in _cpu_stat(cpus))


def _irq_ticks(cpus: set[int]) -> int:
    """Interrupt and softirq jiffies of the given CPUs: the kernel's work for this host's traffic,
    some of it in no process's time (the sampler bounds the sum by the CPUs' total)."""
    return sum(f[5] + f[6] for f in _cpu_stat(cpus))


def cpu_list(text: str) -> set[int]:
    """A kernel CPU list ("0-1,3") as a set (the control side parses the inventory's with it too)."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _allowed_cpus() -> set[int]:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return cpu_list(line.split(":", 1)[1])
    return set(range(os.cpu_count() or 1))


class _SystemReader:
    """The processes of one system, read from one scan of /proc per sample.

    Which system a process belongs to is read from its environment once, when it is first seen
    (pid and start time say who it is); its session is read again every time, from the same stat
    line that gives its CPU time and RSS. The sampler used to scan /proc three times a sample (the
    host's total, the members, their usage), and read every process's environment each time."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.owners: dict[tuple[int, str], str | None] = {}

    def members(self, scan: dict[int, _Proc]) -> dict[int, _Proc]:
        sessions = _supervisors()
        me = os.getpid()
        owners, found = {}, {}
        for pid, proc in scan.items():
            if pid == me or proc.state in ("Z", "X"):
                continue
            key = (pid, proc.started)
            if key in self.owners:
                owner = self.owners[key]
            else:
                try:
                    env = _environ(pid)
                except OSError:  # gone, or not ours to read: its session may still say
                    env = []
                owner = _env_value(env, MARKER)
            owners[key] = owner  # only the living are kept
            if owner is None and proc.sid in sessions and pid != proc.sid:
                owner = sessions[proc.sid]
            if owner == self.target:
                found[pid] = proc
        self.owners = owners
        return found


def sampler(target: str, out_path: str, interval: float = 1.0, count: int | None = None) -> None:
    """Once per `interval`, as JSON lines, until stopped (or `count` samples): the host's CPUs' busy share
    (host_cpu_pct: everything they ran, other tenants' work included), the share this host's own
    work took (own_cpu_pct: its processes, those visible here, plus the interrupt time of its CPUs,
    where the kernel handles its network traffic), and the CPU% and RSS of the processes of
    system <target>. On a local lab the CPUs are shared with the machine's other tenants (the
    driver, anyone's jobs at any priority), so own_cpu_pct is the host's load; on a machine of
    its own the two agree.

    A sample is due every `interval` from the start, however long the last one took: on a server
    whose CPU time is limited and taken by the system under test, a sample took up to 0.35 s,
    and a loop that slept a whole interval after it gave 17 samples in 20 s (then
    `samples_missing`, and the generator-bound flag unknown). Raised priority (nice -10, where
    allowed) gets it its moment of CPU at once; its work is the same, so the server's figures are
    not changed."""
    with contextlib.suppress(OSError):
        os.nice(-10)
    hz = os.sysconf("SC_CLK_TCK")
    cpus = _allowed_cpus()
    reader = _SystemReader(target)
    last_host = _cpu_ticks(cpus)
    last_own = _process_ticks() + _irq_ticks(cpus)
    per_pid: dict[int, int] = {}
    last_t = due = time.monotonic()
    written = 0
    with open(out_path, "a", buffering=1) as out:
        while count is None or written < count:
            due += interval
            late = time.monotonic() - due
            if late > 0:  # ticks missed whole are dropped: never two samples a moment apart
                due += interval * (late // interval)
            time.sleep(max(0.0, due - time.monotonic()))
            now = time.monotonic()
            dt = now - last_t
            host = _cpu_ticks(cpus)
            scan = _scan()
            own = _process_ticks(scan) + _irq_ticks(cpus)
            procs = reader.members(scan)
            proc_delta = sum(p.cpu - per_pid.get(pid, p.cpu) for pid, p in procs.items())
            rss = sum(p.rss_kb for p in procs.values())
            per_pid = {pid: p.cpu for pid, p in procs.items()}
            out.write(
                json.dumps(
                    {
                        "t": round(time.time(), 3),
                        "host_cpu_pct": round(100.0 * (host - last_host) / hz / dt / len(cpus), 2),
                        # at most the CPUs' total: without IRQ time accounting an interrupt is
                        # charged to the process it interrupted too (Resources' host_load)
                        "own_cpu_pct": round(
                            100.0 * min(max(0, own - last_own), host - last_host) / hz / dt / len(cpus), 2
                        ),
                        "cpus": len(cpus),
                        "proc_cpu_pct": round(100.0 * proc_delta / hz / dt, 2),
                        "rss_kb": rss,
                        "processes": len(procs),
                    }
                )
                + "\n"
            )
            written += 1
            last_host, last_own, last_t = host, own, now


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "sampler":
        sampler(argv[2], argv[3])
        return 0
    payload: Any = json.loads(sys.stdin.read() or "{}") if command in ("start", "probe", "run") else {}
    result: Mapping[str, Any]
    if command == "start":
        result = start(payload)
    elif command == "stop":
        ports = [int(p) for p in argv[3].split(",") if p] if len(argv) > 3 else []
        result = stop(argv[2], ports)
    elif command == "status":
        result = status(argv[2:])
    elif command == "processes":
        result = processes()
    elif command == "guard":
        return guard(argv[2], json.loads(argv[3]), float(argv[4]))
    elif command == "ports":
        result = {"ok": True, "listening": sorted(listening_ports())}
    elif command == "probe":
        result = probe(payload["urls"])
    elif command == "run":
        result = run(payload)
    elif command == "quiet":
        result = quiet(float(argv[2]), float(argv[3]), float(argv[4]))
    elif command == "calibrate":
        result = calibrate()
    else:
        result = {"ok": False, "error": f"unknown command {command!r}"}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
