"""The whole lab: what each inventory group gets (the pyinfra twin of playbooks/site.yml, with one
deploy per role, in the same order)."""

from __future__ import annotations

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


def site(artifacts: Artifacts) -> None:
    common()
    # Go on every host: the server builds the Go systems, the generator the upstream API.
    go_toolchain(artifacts.toolchain)
    apps(artifacts.sources, artifacts.goproxy)
    if host.name in artifacts.backend_hosts:
        backend(artifacts.sources)
    if "generator" in host.groups:
        loadgen(artifacts.k6)
    if "server" in host.groups:
        python_stack(artifacts.wheels)
        nginx_fcgi(artifacts.nginx_sites.get(host.name, []))
        redis()
        chroot_jail(artifacts.jailed)
