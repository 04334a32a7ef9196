"""fabric Connections with strict host-key checking, and SSH failures as one clear line.

fabric's Connection sets paramiko's AutoAddPolicy and loads no known_hosts; every connection made
here loads the inventory's known_hosts and sets RejectPolicy before the first command.
"""

from __future__ import annotations

import paramiko
from fabric import Connection

from webbench_lab.errors import UserError
from webbench_lab.hosts.inventory import LabHost

CONNECT_TIMEOUT = 15


def connect(host: LabHost, timeout: float = CONNECT_TIMEOUT) -> Connection:
    """An open, verified connection to `host` (raises UserError naming the host and the fix)."""
    kwargs: dict = {
        "allow_agent": False,
        "look_for_keys": False,
        "auth_timeout": timeout,
        "banner_timeout": timeout,
    }
    if host.key_file:
        kwargs["key_filename"] = str(host.key_file)
    conn = Connection(
        host.address,
        user=host.user,
        port=host.port,
        connect_timeout=timeout,
        connect_kwargs=kwargs,
    )
    conn.client.load_host_keys(str(host.known_hosts))
    conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        conn.open()
    except Exception as exc:
        conn.close()
        raise ssh_error(host, exc) from None
    return conn


def ssh_error(host: LabHost, exc: BaseException) -> UserError:
    """Translate paramiko/socket errors into the one line the user needs."""
    where = f"host {host.name} ({host.endpoint})"
    if isinstance(exc, paramiko.BadHostKeyException):
        return UserError(
            f"{where}: its host key does not match {host.known_hosts}; if the host was "
            f"rebuilt, check its new key and replace the entry (ssh-keygen -R {host.address} "
            f"-f {host.known_hosts}), or run `webbench-lab lab up` again for the local lab"
        )
    if isinstance(exc, paramiko.SSHException) and "not found in known_hosts" in str(exc):
        return UserError(
            f"{where}: its host key is not in {host.known_hosts}; add it after checking its "
            "fingerprint (no client of the lab accepts unknown host keys)"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return UserError(
            f"{where}: key authentication failed for user {host.user} with "
            f"{host.key_file or 'no key'}; install the public key in the user's authorized_keys"
        )
    if isinstance(exc, TimeoutError):
        return UserError(
            f"{where}: unreachable (no answer within {CONNECT_TIMEOUT} s); check the address, "
            "the port and that sshd runs"
        )
    if isinstance(exc, OSError):
        return UserError(
            f"{where}: unreachable ({exc.strerror or exc}); check the address, the port and that sshd runs"
        )
    return UserError(f"{where}: SSH failed: {exc}")


def check(host: LabHost, timeout: float = CONNECT_TIMEOUT) -> str:
    """Log in and return the remote hostname; raises UserError when the host is not usable."""
    conn = connect(host, timeout)
    try:
        return conn.run("hostname", hide=True, in_stream=False, timeout=timeout).stdout.strip()
    finally:
        conn.close()
