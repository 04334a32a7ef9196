"""The whole lab: what each inventory group gets (the pyinfra twin of playbooks/site.yml, with one
deploy per role, in the same order)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinfra import host

from webbench_lab.provision.artifacts import Bundle, GoToolchain
from webbench_lab.provision.deploys.apps import apps
from webbench_lab.provision.deploys.backend import backend
from webbench_lab.provision.deploys.chroot_jail import chroot_jail
from webbench_lab.provision.deploys.common import common
from webbench_lab.provision.deploys.go_toolchain import go_toolchain
from webbench_lab.provision.deploys.loadgen import loadgen
from webbench_lab.provision.deploys.nginx_fcgi import nginx_fcgi
from webbench_lab.provision.deploys.python_stack import python_stack
from webbench_lab.provision.deploys.redis import redis


@dataclass(frozen=True)
class Artifacts:
    """What the control machine prepared for the hosts (the Ansible engine gets the same as
    extra vars)."""

    toolchain: GoToolchain
    wheels: Bundle
    sources: Bundle
    goproxy: Bundle
    k6: Path  # the k6 binary built on the control machine
    backend_hosts: list[str]  # the `backend` group, else the generators
    jailed: list[str]  # the systems that run in the chroot jail
    nginx_sites: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per server host
    roles: dict[str, list[str]] = field(default_factory=dict)  # per host, in order (provision/roles.py)


def site(artifacts: Artifacts) -> None:
    """This host's roles (provision/roles.py), each as its deploy, in the roles' order."""
    deploys: dict[str, Callable[[], object]] = {
        "common": lambda: common(),
        "go_toolchain": lambda: go_toolchain(artifacts.toolchain),
        "apps": lambda: apps(artifacts.sources, artifacts.goproxy),
        "backend": lambda: backend(artifacts.sources),
        "loadgen": lambda: loadgen(artifacts.k6),
        "python_stack": lambda: python_stack(artifacts.wheels),
        "nginx_fcgi": lambda: nginx_fcgi(artifacts.nginx_sites.get(host.name, [])),
        "redis": lambda: redis(),
        "chroot_jail": lambda: chroot_jail(artifacts.jailed),
    }
    for role in artifacts.roles[host.name]:
        deploys[role]()
