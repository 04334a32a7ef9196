"""A benchmark run's hold on the lab: one appctl `guard` per host, each on its own SSH channel of
the host's connection, renewed by a thread of the driver every few seconds.

Why a guard on a channel: the driver can die in ways that run no cleanup (kill -9, a lost network,
its machine's crash). When its process dies the kernel closes its SSH connections, the channel
ends and the guard reads EOF at once; when the network or the machine goes silently, the renewals
stop and the guard gives up after TTL_S. Either way the guard ends every process of the run (they
carry its id) on its host, within TTL_S plus the agent's TERM-to-KILL grace: 25 s at most.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import paramiko

from webbench_lab.agent.appctl import GuardAnswer, LabProcess
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.hosts.control import HostControl, as_root

RENEW_S = 5.0  # the driver renews the lease this often ...
TTL_S = 15.0  # ... and a guard that hears nothing for this long ends the run's processes
ANSWER_TIMEOUT_S = 90.0  # for the guard's first answer (it may end a dead run's leftovers first)


@dataclass
class _Held:
    hc: HostControl
    channel: paramiko.Channel
    reader: Any  # the channel's file for reading lines


@dataclass
class RunGuard:
    """Hold every host of the lab for one run. `acquire` before anything starts; `release` at the
    end (a clean end: the guard ends what the run left, such as the services it started)."""

    controls: list[HostControl]  # the server first: the host that says who holds the lab
    run_id: str
    info: dict[str, Any]  # started, control_host, driver_pid, results: what a refused run is told
    first: dict[str, GuardAnswer] = field(default_factory=dict)  # host -> the guard's first answer
    _held: list[_Held] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def acquire(self) -> dict[str, GuardAnswer]:
        """Hold each host in turn; a host held by another run: release the others, one line, exit 2."""
        for hc in self.controls:
            held = self._open(hc)
            answer = self._read(held)
            if not answer.get("ok"):
                held.channel.close()
                self.release()
                raise UserError(_in_use(hc.host.name, answer))
            self._held.append(held)
            self.first[hc.host.name] = answer
        self._thread = threading.Thread(target=self._renew, name="webbench-lease", daemon=True)
        self._thread.start()
        return self.first

    def release(self) -> dict[str, GuardAnswer]:
        """End the hold: each guard ends what is left of the run on its host and says what."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=RENEW_S + 5)
        last: dict[str, GuardAnswer] = {}
        for held in self._held:
            try:
                held.channel.sendall(b"end\n")
                answer = self._read_last(held)
            except (OSError, paramiko.SSHException, LabFailure) as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            finally:
                held.channel.close()
            last[held.hc.host.name] = answer
        self._held.clear()
        return last

    def _open(self, hc: HostControl) -> _Held:
        command = hc.agent_command("guard", self.run_id, json.dumps(self.info), f"{TTL_S:g}")
        try:
            hc.conn.open()
            transport = hc.conn.transport
            assert transport is not None
            channel = transport.open_session()
            channel.settimeout(ANSWER_TIMEOUT_S)
            channel.exec_command(as_root(command, hc.host.become))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise LabFailure(
                f"host {hc.host.name} ({hc.host.endpoint}): connection lost ({type(exc).__name__}: {exc})"
            ) from None
        return _Held(hc, channel, channel.makefile("r"))

    def _read(self, held: _Held) -> GuardAnswer:
        try:
            line = held.reader.readline()
        except (OSError, paramiko.SSHException) as exc:
            line = f"{type(exc).__name__}: {exc}"
        return _parse(held.hc.host.name, line)

    def _read_last(self, held: _Held) -> GuardAnswer:
        lines = [ln for ln in held.reader.read().decode(errors="replace").splitlines() if ln.strip()]
        return _parse(held.hc.host.name, lines[-1] if lines else "")

    def _renew(self) -> None:
        """Every RENEW_S: one line to each guard. A failed write is left to the guard's TTL."""
        while not self._stop.wait(RENEW_S):
            for held in list(self._held):
                try:
                    held.channel.sendall(b"renew\n")
                except (OSError, paramiko.SSHException):
                    continue


def _parse(host: str, line: str | bytes) -> GuardAnswer:
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    try:
        answer = json.loads(text)
        if not isinstance(answer, dict):
            raise ValueError(text)
    except ValueError:
        raise LabFailure(
            f"host {host}: the lab agent's guard did not answer ({text.strip()[:200] or 'no output'}); "
            "was the host provisioned with this version (`webbench-lab provision`)?"
        ) from None
    return cast(GuardAnswer, answer)


def _in_use(host: str, answer: GuardAnswer) -> str:
    return f"{in_use(host, answer.get('held_by') or {})}, or stop it (Ctrl-C in its terminal)"


def in_use(host: str, lease: Mapping[str, Any]) -> str:
    """What a command refused during a run is told: which run holds `host`, since when, from where."""
    return (
        f"the lab is in use: run {lease.get('run_id', '?')} (started {lease.get('started') or '?'} on "
        f"{lease.get('control_host') or '?'}, driver pid {lease.get('driver_pid') or '?'}) holds host "
        f"{host}; wait for it to end"
    )


def describe_dead_run(host: str, answer: GuardAnswer) -> str | None:
    """One line about a dead run's leftovers that this run's guard found on `host`, if any."""
    dead = answer.get("dead_run")
    if not dead:
        return None
    run = dead.get("run") or {}
    ended: list[LabProcess] = [*(dead.get("ended") or []), *(dead.get("ended_later") or [])]
    names = sorted({p["name"] for p in ended})
    what = f"{len(ended)} of its processes ended ({', '.join(names)})" if ended else "nothing of it was left"
    who = "an unknown run"
    if run.get("run_id"):
        who = f"run {run['run_id']} (started {run.get('started', '?')})"
    return f"{host}: {who} ended without its driver: {dead.get('reason')}; {what}"
