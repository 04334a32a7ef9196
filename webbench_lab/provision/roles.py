"""Which roles each host gets, in which order: written once here, and read by both engines
(playbooks/site.yml through the `lab_roles` extra var, deploys/site.py) and by the audit."""

from __future__ import annotations

from collections.abc import Iterable

ORDER = (
    "common",
    "go_toolchain",
    "apps",
    "backend",
    "loadgen",
    "python_stack",
    "nginx_fcgi",
    "redis",
    "chroot_jail",
)
EVERY_HOST = frozenset({"common", "go_toolchain", "apps"})  # Go on every host: builds on both
BY_GROUP = {
    "generator": frozenset({"loadgen"}),
    "server": frozenset({"python_stack", "nginx_fcgi", "redis", "chroot_jail"}),
}
BACKEND = "backend"  # the upstream API: on the `backend` group's hosts, else on the generators


def roles_of(groups: Iterable[str], runs_backend: bool = False) -> list[str]:
    """The roles of a host in the given inventory groups, in ORDER."""
    wanted = set(EVERY_HOST)
    for group in groups:
        wanted |= BY_GROUP.get(group, frozenset())
    if runs_backend:
        wanted.add(BACKEND)
    return [role for role in ORDER if role in wanted]
