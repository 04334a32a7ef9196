"""A lab host without SSH, for the control side's tests, in the manner of fabric.testing and invoke's
MockContext: a fake fabric Connection records every command it is asked to run and answers from a
script. The HostControl above it is the real one (its sh wrapping, its stdin uploads, its agent
calls and answer parsing are under test); only the connection is fake and nothing runs.

FakeHost plays the host: a few files (`files`, read by `cat`, written by `cat >`, removed by
`rm -f`), shell commands answered by rules (`on`), and the appctl agent's JSON answers, kept
consistent with what it was asked (a started service runs until stopped, a second start of it is
refused as the agent refuses it), with every spec, stop, probe and load recorded for the tests.
"""

from __future__ import annotations

import base64
import fnmatch
import itertools
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from invoke.runners import Result

from webbench_lab.apps import verify
from webbench_lab.defaults import host_vars
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.inventory import LabHost, LabInventory

# How HostControl.sh and the runner's group command hand a file over as standard input.
STDIN = re.compile(r"(?P<command>.*) < (?P<path>/tmp/\S+); rc=\$\?; rm -f (?P=path); exit \$rc", re.S)
RELEASE = "/opt/webbench/apps/releases/r42"  # where apps/current points on every fake host


@dataclass
class Ran:
    """One command as the host ran it: without the sh -c / sudo wrapping, with its standard input."""

    host: str
    command: str
    stdin: str | None = None
    sudo: bool = False


class FakeConnection:
    """The part of fabric's Connection that HostControl and a ThreadingGroup use: run, put, close."""

    def __init__(self, fake: FakeHost) -> None:
        self.fake = fake
        self.host = fake.host.address
        self.uploads: dict[str, str] = {}
        self.closed = 0

    def put(self, local, remote: str) -> None:
        self.uploads[remote] = local.read().decode()

    def close(self) -> None:
        self.closed += 1

    def run(self, command: str, **kwargs: Any) -> Result:
        # What every caller must ask for: a failure is a result, not an exception; no local stdin.
        assert kwargs.get("warn") is True and kwargs.get("hide") is True, kwargs
        assert kwargs.get("in_stream") is False and kwargs.get("timeout"), kwargs
        words = shlex.split(command)
        sudo = words[:2] == ["sudo", "-n"]
        if sudo:
            words = words[2:]
        inner = words[2] if words[:2] == ["sh", "-c"] and len(words) == 3 else command
        stdin = None
        if match := STDIN.fullmatch(inner):
            inner = match["command"]
            assert match["path"] in self.uploads, f"{match['path']} was never uploaded"
            stdin = self.uploads.pop(match["path"])
        stdout, exited = self.fake.execute(Ran(self.fake.host.name, inner, stdin, sudo))
        return Result(stdout=stdout, stderr="", command=command, exited=exited, hide=("stdout", "stderr"))


Reply = Callable[[Ran], tuple[str, int]]


class FakeHost(HostControl):
    """A HostControl whose connection is a FakeConnection: the host is played, nothing runs."""

    def __init__(self, host: LabHost, journal: list[Ran] | None = None) -> None:  # no connect()
        self.host = host
        self.vars = host_vars(host.vars)
        self.conn = FakeConnection(self)
        self.journal = journal if journal is not None else []  # may be shared by several hosts
        self.ran: list[Ran] = []
        self.files: dict[str, str] = {}
        self.rules: list[tuple[re.Pattern[str], Reply]] = []
        self.running: dict[str, dict[str, Any]] = {}
        self.quiet_answer: dict[str, Any] | None = None  # what `quiet` says (default: idle at once)
        # What `calibrate` says (appctl's figures); None: the agent refuses it (an older agent).
        self.calibration_answer: dict[str, Any] | None = {
            "ok": True, "cpu_loop_ns": 41.0, "memory_us_per_mib": 52.0, "loopback_rtt_us": 14.0,
            "loopback_connect_us": 60.0, "cpu_s": 0.15, "wall_s": 0.6,
        }  # fmt: skip
        self.started: list[dict[str, Any]] = []
        self.started_runs: list[tuple[str, str]] = []  # (name, the run id its start carried)
        self.stopped: list[tuple[str, list[int]]] = []
        self.probed: list[list[str]] = []
        self.loads: list[dict[str, Any]] = []
        self.start_answers: dict[str, dict[str, Any]] = {}
        self.stop_answers: dict[str, dict[str, Any] | str] = {}  # a str: the agent's raw output
        self.wrong: dict[str, dict[str, Any]] = {}  # url -> the probe's answer instead of the right one
        self.load_output = ""  # what each load process writes to its `out` file
        self.samples: dict[str, list[dict[str, Any]]] = {}  # sampler target -> the lines it writes
        self._pids = itertools.count(4000)
        self.lease: dict[str, Any] | None = None  # the run holding this host (`processes` says so)
        self.lab_processes: list[dict[str, Any]] = []  # what `processes` lists besides the running
        self.on(r"readlink -f \S+/current", RELEASE + "\n")

    # -- the script ---------------------------------------------------------------------------

    def on(self, pattern: str, stdout: str | Reply = "", exited: int = 0) -> None:
        """Answer shell commands that match `pattern` (the last rule that matches wins)."""
        reply = stdout if callable(stdout) else (lambda _ran, out=stdout: (out, exited))
        self.rules.append((re.compile(pattern, re.S), reply))

    def commands(self, pattern: str = ".*") -> list[str]:
        """The shell commands run here that match `pattern`, in order (the agent's calls too)."""
        return [r.command for r in self.ran if re.fullmatch(pattern, r.command, re.S)]

    def agent_calls(self) -> list[list[str]]:
        """Each appctl call: its command and arguments."""
        prefix = self.agent_prefix
        return [shlex.split(c.removeprefix(prefix)) for c in self.commands(re.escape(prefix) + ".*")]

    @property
    def agent_prefix(self) -> str:
        """How the control side calls appctl here: with the lab's run root, then its arguments."""
        run = [f"WEBBENCH_RUN_ID={self.run_id}"] if self.run_id else []
        run_root = f"WEBBENCH_RUN_ROOT={self.vars['apps_run_root']}"
        return shlex.join(["env", run_root, *run, "python3", self.vars["apps_agent"]]) + " "

    # -- the host -----------------------------------------------------------------------------

    def execute(self, ran: Ran) -> tuple[str, int]:
        self.ran.append(ran)
        self.journal.append(ran)
        prefix = self.agent_prefix
        if ran.command.startswith(prefix):
            verb, *args = shlex.split(ran.command.removeprefix(prefix))
            payload = json.loads(ran.stdin) if ran.stdin is not None else None
            answer = self.answer(verb, args, payload)
            if isinstance(answer, str):
                return answer, 1
            return json.dumps(answer) + "\n", 0 if answer.get("ok") else 1
        for pattern, reply in reversed(self.rules):
            if pattern.fullmatch(ran.command):
                return reply(ran)
        sizes = re.findall(r"stat -c %s (\S+) 2>/dev/null \|\| echo 0", ran.command)
        if sizes:
            return "".join(f"{len(self.files[f].encode()) if f in self.files else 0}\n" for f in sizes), 0
        if match := re.fullmatch(r"tail -c \+(\d+) (\S+) 2>/dev/null \|\| true", ran.command):
            return self.files.get(match[2], "").encode()[int(match[1]) - 1 :].decode(), 0
        if match := re.fullmatch(r"cat (\S+) 2>/dev/null \|\| true", ran.command):
            return self.files.get(match[1], ""), 0
        if (match := re.fullmatch(r"cat > (\S+)", ran.command)) and ran.stdin is not None:
            self.files[match[1]] = ran.stdin
            return "", 0
        if match := re.fullmatch(r"rm -f (.+)", ran.command):
            for pattern in match[1].split():
                for path in fnmatch.filter(list(self.files), pattern):
                    del self.files[path]
            return "", 0
        return "", 0

    def answer(self, verb: str, args: list[str], payload: Any) -> dict[str, Any] | str:
        """The appctl agent: start, stop, status, probe, quiet and run, as its contract says."""
        if verb == "start":
            return self._start(payload)
        if verb == "stop":
            name = args[0]
            ports = [int(p) for p in args[1].split(",")] if len(args) > 1 else []
            self.stopped.append((name, ports))
            self.running.pop(name, None)
            return self.stop_answers.get(name, {"ok": True, "killed": False, "left": [], "busy_ports": []})
        if verb == "status":
            systems = {}
            for name in args:
                spec = self.running.get(name)
                systems[name] = {
                    "running": spec is not None,
                    "pid": spec and spec["pid"],
                    "processes": [spec["pid"]] if spec else [],
                    "meta": spec.get("meta", {}) if spec else {},
                }
            return {"ok": True, "systems": systems, "listening": []}
        if verb == "processes":
            running = [
                {"pid": spec["pid"], "name": name, "run": spec.get("run", self.run_id), "args": "..."}
                for name, spec in self.running.items()
            ]
            return {"ok": True, "processes": [*running, *self.lab_processes], "lease": self.lease}
        if verb == "probe":
            self.probed.append(payload["urls"])
            return {"ok": True, "answers": [self.wrong.get(u) or right_answer(u) for u in payload["urls"]]}
        if verb == "calibrate" and self.calibration_answer is not None:
            return self.calibration_answer
        if verb == "quiet":
            idle = {"ok": True, "quiet": True, "cpu_pct": 1.5, "waited_s": float(args[1])}
            return self.quiet_answer or idle
        if verb == "run":
            self.loads.append(payload)
            n = len(payload["processes"])
            for proc in payload["processes"]:
                self.files[proc["out"]] = self.load_output
                if "--summary-export" in proc["argv"]:  # k6: its figures go to this file
                    self.files[proc["argv"][proc["argv"].index("--summary-export") + 1]] = self.load_output
            return {
                "ok": True,
                "exit_codes": [0] * n,
                "interrupted": [False] * n,
                "killed": [False] * n,
                "ended": ["exited"] * n,
                "seconds": 1.0,
            }
        return {"ok": False, "error": f"unknown command {verb!r}"}

    def _start(self, spec: dict[str, Any]) -> dict[str, Any]:
        name = spec["name"]
        self.started.append(spec)
        self.started_runs.append((name, self.run_id))
        if name in self.start_answers:
            answer = self.start_answers[name]
            if answer.get("ok"):
                self.running[name] = {**spec, "pid": answer.get("pid", 1)}
            return answer
        if name in self.running:
            return {"ok": False, "error": f"{name} is already running (pid {self.running[name]['pid']})"}
        pid = next(self._pids)
        self.running[name] = {**spec, "pid": pid, "run": self.run_id}
        argv = spec["processes"][0]["argv"]
        if argv[-3] == "sampler":  # [env, WEBBENCH_RUN_ROOT=..., python3, appctl, sampler, target, out]
            self.files[argv[-1]] = "".join(json.dumps(s) + "\n" for s in self.samples.get(argv[-2], []))
        log = spec.get("log", f"{self.vars['apps_run_root']}/{name}/app.log")
        self.files[log] = self.files.get(log, "") + f"appctl: start {name}\n"  # appctl appends, too
        return {"ok": True, "pid": pid, "ports": spec["ports"], "log": log}


def right_answer(url: str) -> dict[str, Any]:
    """What a correct system answers to a probe of `url` (an endpoint of the verification gate)."""
    path = "/" + url.split("://", 1)[1].partition("/")[2]
    expected = next(e for e in verify.ENDPOINTS if e.path == path)
    body = expected.body or b""
    headers = [["Content-Length", str(len(body))]]
    if expected.media_type:
        headers.append(["Content-Type", f"{expected.media_type}; charset=utf-8"])
    return {"status": expected.status, "headers": headers, "body": base64.b64encode(body).decode()}


def lab_host(name: str, groups: tuple[str, ...], bench: str, **hvars: Any) -> LabHost:
    """An inventory host as load_inventory makes it (no files are read: nothing connects)."""
    return LabHost(
        name=name,
        groups=groups,
        address=f"192.0.2.{bench.rsplit('.', 1)[1]}",
        port=22,
        user="root",
        key_file=None,
        known_hosts=Path("/nonexistent/known_hosts"),
        bench_address=bench,
        cpus=str(hvars.pop("cpus", "0")),
        become=bool(hvars.pop("become", False)),
        vars=hvars,
    )


def lab_inventory(*hosts: LabHost) -> LabInventory:
    return LabInventory(sources=(Path("fake-inventory.yml"),), hosts={h.name: h for h in hosts})


def two_hosts(**server_vars: Any) -> LabInventory:
    """The lab of the example inventory: one generator (also the backend), one server."""
    return lab_inventory(
        lab_host("gen1", ("generator",), "198.19.0.1"),
        lab_host("srv1", ("server",), "198.19.0.2", cpus="1", **server_vars),
    )


def fake_hosts(monkeypatch, *modules: Any) -> list[Ran]:
    """Every HostControl the given modules make is a FakeHost; the journal they all write."""
    journal: list[Ran] = []
    for module in modules:
        monkeypatch.setattr(module, "HostControl", partial(FakeHost, journal=journal))
    return journal


def app_user_ids(server: FakeHost, uid: int = 1001, gid: int = 1002) -> None:
    """The server's answer to Lab.paths' `id -u <user>; id -g <user>`."""
    server.on(r"id -u (\S+); id -g \1", f"{uid}\n{gid}\n")
