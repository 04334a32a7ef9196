"""Commands on a lab host over fabric: plain shell, and the appctl agent's JSON calls."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, cast

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from webbench_lab.agent.appctl import (
    CalibrationAnswer,
    LaunchSpec,
    ProbeAnswer,
    ProbeSpec,
    ProcessesAnswer,
    QuietAnswer,
    StartAnswer,
    StatusAnswer,
    StopAnswer,
)
from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.hosts.inventory import LabHost
from webbench_lab.hosts.ssh import connect

# About 0.15 s of CPU: under the local server's quota of a quarter core, about a second.
CALIBRATE_TIMEOUT_S = 120


class HostControl:
    """One open, strictly verified connection to a host, as root (sudo -n for non-root users)."""

    run_id = ""  # set during a benchmark run: every process the agent starts then carries it

    def __init__(self, host: LabHost) -> None:
        self.host = host
        self.vars = host_vars(host.vars)
        self.conn: Connection = connect(host)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HostControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def outside_run(self) -> Iterator[HostControl]:
        """What the agent starts in this block does not carry the run's id, so the run's guard
        neither ends it when the run ends nor counts it as a leftover of the run later
        (`bench --keep-services`)."""
        run_id, self.run_id = self.run_id, ""
        try:
            yield self
        finally:
            self.run_id = run_id

    def sh(self, command: str, *, timeout: float = 600, stdin: str | None = None, check: bool = True):
        """Run `command` with sh as root; returns the invoke Result.

        Standard input travels as a file over SFTP: invoke does not close the remote stdin when
        its in_stream ends, so a reader would wait for an EOF that comes late.
        """
        try:
            if stdin is not None:
                path = f"/tmp/.webbench-lab-{uuid.uuid4().hex}"
                self.conn.put(io.BytesIO(stdin.encode()), path)
                command = with_stdin(command, path)
            wrapped = as_root(command, self.host.become)
            result = self.conn.run(wrapped, hide=True, warn=True, timeout=timeout, in_stream=False)
        except CommandTimedOut:
            raise LabFailure(f"host {self.host.name}: `{command[:80]}` timed out after {timeout} s") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise LabFailure(
                f"host {self.host.name} ({self.host.endpoint}): connection lost ({type(exc).__name__}: {exc})"
            ) from None
        if check and result.exited != 0:
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise LabFailure(f"host {self.host.name}: `{command[:80]}` failed (exit {result.exited}): {tail}")
        return result

    def agent(
        self, *args: str, payload: Mapping[str, Any] | None = None, timeout: float = 120
    ) -> dict[str, Any]:
        """Call appctl (the command and its arguments); its answer, one JSON object."""
        command = self.agent_command(*args)
        result = self.sh(
            command,
            timeout=timeout,
            stdin=json.dumps(payload) if payload is not None else None,
            check=False,
        )
        return read_answer(
            self.host.name, result, "the lab agent", "was the host provisioned (`webbench-lab provision`)?"
        )

    def agent_argv(self, *args: str) -> list[str]:
        """The agent's command line on this host (provisioning put it at apps_agent), with the run
        root the rest of the lab uses (apps_run_root, which an inventory may move)."""
        env = [f"WEBBENCH_RUN_ROOT={self.vars['apps_run_root']}"]
        if self.run_id:
            env.append(f"WEBBENCH_RUN_ID={self.run_id}")
        return ["env", *env, "python3", self.vars["apps_agent"], *args]

    def agent_command(self, *args: str) -> str:
        return shlex.join(self.agent_argv(*args))

    # The agent's commands, typed by its contract (webbench_lab/agent/appctl.py).

    def start(self, spec: LaunchSpec, timeout: float = 120) -> StartAnswer:
        return cast(StartAnswer, self.agent("start", payload=spec, timeout=timeout))

    def stop(self, name: str, ports: list[int] | None = None) -> StopAnswer:
        extra = [",".join(map(str, ports))] if ports else []
        return cast(StopAnswer, self.agent("stop", name, *extra))

    def status(self, *names: str) -> StatusAnswer:
        return cast(StatusAnswer, self.agent("status", *names))

    def probe(self, urls: list[str], timeout: float = 180) -> ProbeAnswer:
        spec: ProbeSpec = {"urls": urls}
        return cast(ProbeAnswer, self.agent("probe", payload=spec, timeout=timeout))

    def processes(self) -> ProcessesAnswer:
        return cast(ProcessesAnswer, self.agent("processes"))

    def calibrate(self) -> CalibrationAnswer:
        return cast(CalibrationAnswer, self.agent("calibrate", timeout=CALIBRATE_TIMEOUT_S))

    def quiet(self, threshold: float, window: float, timeout: float) -> QuietAnswer:
        answer = self.agent("quiet", str(threshold), str(window), str(timeout), timeout=timeout + 30)
        return cast(QuietAnswer, answer)


def as_root(command: str, become: bool) -> str:
    """`command` for sh, as root: through `sudo -n` for an inventory user that becomes root."""
    wrapped = f"sh -c {shlex.quote(command)}"
    return f"sudo -n {wrapped}" if become else wrapped


def with_stdin(command: str, path: str) -> str:
    """`command` reading the file at `path` (uploaded before) as its input, which it then removes.
    Standard input travels as a file: invoke does not close the remote stdin when its stream ends."""
    return f"{command} < {path}; rc=$?; rm -f {path}; exit $rc"


def read_answer(host: str, result: Any, what: str, hint: str = "") -> dict[str, Any]:
    """What an agent (appctl, the audit collector) answered: the last line of its standard output,
    one JSON object. The one place the control machine parses an agent's answer."""
    lines = (result.stdout or "").strip().splitlines()
    try:
        answer = json.loads(lines[-1])
        if not isinstance(answer, dict):
            raise ValueError(answer)
    except (IndexError, ValueError):
        detail = " | ".join((result.stderr or result.stdout or "").strip().splitlines()[-3:])
        tail = f"; {hint}" if hint else ""
        raise LabFailure(f"host {host}: {what} did not answer ({detail or 'no output'}){tail}") from None
    return answer
