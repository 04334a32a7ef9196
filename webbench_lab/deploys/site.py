"""The whole lab: what each inventory group gets (the pyinfra twin of playbooks/site.yml)."""

from __future__ import annotations

from pyinfra import host

from webbench_lab.artifacts import GoToolchain, Wheelhouse
from webbench_lab.deploys.app_user import app_user
from webbench_lab.deploys.common import common_base
from webbench_lab.deploys.go_toolchain import go_toolchain
from webbench_lab.deploys.loadgen import load_generators
from webbench_lab.deploys.python_stack import python_stack
from webbench_lab.deploys.web_stack import chroot_jail, web_services


def site(toolchain: GoToolchain, wheels: Wheelhouse) -> None:
    common_base()
    if "generator" in host.groups:
        load_generators()
    if "server" in host.groups:
        app_user()
        go_toolchain(toolchain)
        python_stack(wheels)
        web_services()
        chroot_jail()
