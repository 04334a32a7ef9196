"""The whole lab: what each inventory group gets (the pyinfra twin of playbooks/site.yml)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyinfra import host

from webbench_lab.artifacts import Bundle, GoToolchain
from webbench_lab.deploys.app_user import app_user
from webbench_lab.deploys.apps import apps, go_programs
from webbench_lab.deploys.common import common_base
from webbench_lab.deploys.go_toolchain import go_toolchain
from webbench_lab.deploys.loadgen import load_generators
from webbench_lab.deploys.python_stack import python_stack
from webbench_lab.deploys.web_stack import chroot_jail, web_services


@dataclass(frozen=True)
class Artifacts:
    """What the control machine fetched for the hosts."""

    toolchain: GoToolchain
    wheels: Bundle
    sources: Bundle
    goproxy: Bundle
    backend_group: bool  # the inventory has a `backend` group (else the generator serves the API)
    k6: Path  # the k6 binary built on the control machine


def site(artifacts: Artifacts) -> None:
    common_base()
    app_user()
    # Go on every host: the server builds the Go systems, the generator the upstream API.
    go_toolchain(artifacts.toolchain)
    apps(artifacts.sources, artifacts.goproxy)
    programs = []
    if "backend" in host.groups or ("generator" in host.groups and not artifacts.backend_group):
        programs.append("backend")  # the upstream API of Lab B's /data/
    go_programs(artifacts.sources, programs)
    if "generator" in host.groups:
        load_generators(artifacts.k6)
    if "server" in host.groups:
        python_stack(artifacts.wheels)
        web_services()
        chroot_jail()
