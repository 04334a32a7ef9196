"""How the local hosts are logged in to: root on port 22, or (`lab up --login-user NAME --ssh-port
PORT`) as real machines are: that user with the lab's key and passwordless sudo, root refused by
sshd, sshd on that port. Why: the real-machine path (a user that becomes root with sudo) must be
one the tests take, or nothing keeps it working.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from webbench_lab.commands import run
from webbench_lab.defaults import shared_defaults
from webbench_lab.errors import LabFailure, UserError
from webbench_lab.fsutil import write_atomic
from webbench_lab.templating import render

ROOT = "root"
SSH_PORT = 22
SUDOERS = "etc/sudoers.d/webbench-lab"  # below the host's root; Debian's sudoers includes the dir
# useradd's default NAME_REGEX on Debian (without the trailing `$` of machine accounts), 32 at most.
_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# Accounts and groups a lab host has (Debian 12 minbase with openssh-server, python3, sudo) or
# gets when it is provisioned (nginx's www-data, redis): a login user must be a new name.
_ACCOUNTS = """
root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc _apt nobody sshd
redis adm tty disk kmem dialout fax voice cdrom floppy tape sudo audio dip operator src shadow utmp
video sasl plugdev staff users nogroup systemd-journal netdev crontab messagebus
"""
TAKEN = frozenset(_ACCOUNTS.split())


def check_user(name: str) -> str:
    """`name` if it can be the login user of a new machine, else UserError with the fix."""
    if name == ROOT:
        return name  # the default: root logs in, as before
    if not _NAME.fullmatch(name):
        raise UserError(
            f"--login-user {name!r}: not a user name useradd takes; give lower-case letters, digits, "
            "'_' or '-' (a letter or '_' first, at most 32), e.g. bench"
        )
    app_user = shared_defaults()["common_app_user"]
    if name in TAKEN or name == app_user:
        why = "the user the lab's apps run as" if name == app_user else "an account the hosts already have"
        raise UserError(f"--login-user {name}: {why}; give a new name, e.g. bench")
    return name


def check_port(text: str | int, taken: dict[int, str] | None = None) -> int:
    """The SSH port as a number from 1 to 65535 that nothing of the lab listens on (`taken`: port ->
    what uses it), else UserError with the fix."""
    try:
        port = int(text)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise UserError(f"--ssh-port {text!r}: not a TCP port; give a number from 1 to 65535, e.g. 2222")
    if taken and port in taken:
        raise UserError(
            f"--ssh-port {port}: {taken[port]} listens there on the hosts; give another port, e.g. 2222"
        )
    return port


def sshd_config(hostname: str, listen_address: str, port: int, login_user: str) -> str:
    """The host's sshd settings: key-only, on `port`; root may log in only when it is the login user."""
    return render(
        "host/sshd_config.j2",
        hostname=hostname,
        listen_address=listen_address,
        port=port,
        permit_root_login="prohibit-password" if login_user == ROOT else "no",
    )


def sudoers(user: str) -> str:
    """The sudoers rule that makes `user` what a real machine's admin user is: root without a password."""
    return render("locallab/sudoers.j2", user=user)


def add_user(root: Path, name: str, authorized_key: str) -> None:
    """`name` on the host whose tree is at `root`, as a sysadmin makes one: useradd (its password `*`:
    no password, and not locked, which sshd would refuse without PAM), the lab's key in its
    authorized_keys, and sudo without a password (checked by the host's own visudo)."""
    account = ["--create-home", "--user-group", "--shell", "/bin/bash", "--password", "*"]
    run(["useradd", "--root", str(root), *account, name])
    uid, gid, home = passwd_entry(root, name)
    ssh_dir = root / home.lstrip("/") / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    write_atomic(keys, authorized_key, mode=0o600)
    for path in (ssh_dir, keys):
        os.chown(path, uid, gid)
    write_atomic(root / SUDOERS, sudoers(name), mode=0o440)
    run(["chroot", str(root), "visudo", "-c", "-f", f"/{SUDOERS}"])


def passwd_entry(root: Path, name: str) -> tuple[int, int, str]:
    """uid, gid and home of `name` in the tree's own /etc/passwd (not the control machine's)."""
    for line in (root / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == name:
            return int(fields[2]), int(fields[3]), fields[5]
    raise LabFailure(f"{root}/etc/passwd: no user {name} after useradd")
