"""The Python frameworks of both labs in one venv, installed offline from the shipped wheelhouse."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import pip

from webbench_lab.defaults import python_pins
from webbench_lab.provision.artifacts import Bundle
from webbench_lab.provision.deploys._ops import install_packages, unpack_bundle


@deploy("Python stack")
def python_stack(wheels: Bundle) -> None:
    install_packages("python3-venv", host.data.get("python_stack_packages"))
    target = unpack_bundle("the wheelhouse", wheels, host.data.get("python_stack_wheelhouse"))
    venv = host.data.get("python_stack_venv")
    pip.venv(name=f"venv {venv}", path=venv, python="python3")
    pip.packages(
        name="Pinned Python stack (apps/python-stack.lock)",
        packages=python_pins(),
        pip=f"{venv}/bin/pip",
        extra_install_args=f"--no-index --find-links {target} --no-deps",
    )
