"""The jail of the Go applications (role chroot_jail): root-owned, and nothing in it but each
chrooted system's own directory and static binary (`app build` installs those)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import server

from webbench_lab.apps.builds import jail_entries
from webbench_lab.provision.deploys._ops import root_directory


@deploy("Chroot jail")
def chroot_jail(jailed: list[str]) -> None:
    jail = host.data.get("chroot_jail_dir")
    parent = jail.rsplit("/", 1)[0]
    for path in (parent, jail):
        root_directory(f"Root-owned {path}", path)
    found = (
        host.get_fact(Command, f"find {shlex.quote(jail)} -mindepth 1 2>/dev/null || true") or ""
    ).splitlines()
    extra = sorted(set(found) - {f"{jail}/{entry}" for entry in allowed_entries(jailed)})
    if extra:
        server.shell(
            name=f"Remove what does not belong in {jail}", commands=[f"rm -rf -- {shlex.join(extra)}"]
        )


def allowed_entries(jailed: list[str]) -> list[str]:
    """What may be in the jail, relative to it: what `app build` installs there (the one rule,
    apps/builds.py; the Ansible role gets this list as chroot_jail_allowed)."""
    return jail_entries(jailed)
