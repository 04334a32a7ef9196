"""Commands on a lab host over fabric: plain shell, and the appctl agent's JSON calls."""

from __future__ import annotations

import io
import json
import shlex
import uuid
from typing import Any

import paramiko
from fabric import Connection
from invoke.exceptions import CommandTimedOut

from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.hosts.inventory import LabHost
from webbench_lab.hosts.ssh import connect


class HostControl:
    """One open, strictly verified connection to a host, as root (sudo -n for non-root users)."""

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

    def sh(self, command: str, *, timeout: float = 600, stdin: str | None = None, check: bool = True):
        """Run `command` with sh as root; returns the invoke Result.

        Standard input travels as a file over SFTP: invoke does not close the remote stdin when
        its in_stream ends, so a reader would wait for an EOF that comes late.
        """
        try:
            if stdin is not None:
                path = f"/tmp/.webbench-lab-{uuid.uuid4().hex}"
                self.conn.put(io.BytesIO(stdin.encode()), path)
                command = f"{command} < {path}; rc=$?; rm -f {path}; exit $rc"
            wrapped = f"sh -c {shlex.quote(command)}"
            if self.host.become:
                wrapped = "sudo -n " + wrapped
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

    def agent(self, *args: str, payload: dict[str, Any] | None = None, timeout: float = 120) -> dict:
        """Call appctl; its answer is the last line of stdout, one JSON object."""
        command = f"python3 {self.vars['apps_agent']} {shlex.join(args)}"
        result = self.sh(
            command,
            timeout=timeout,
            stdin=json.dumps(payload) if payload is not None else None,
            check=False,
        )
        lines = result.stdout.strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, ValueError):
            detail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-3:])
            raise LabFailure(
                f"host {self.host.name}: the lab agent did not answer ({detail or 'no output'}); "
                "was the host provisioned (`webbench-lab provision`)?"
            ) from None
