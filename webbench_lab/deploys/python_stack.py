"""The Python frameworks of both labs in one venv, installed offline from the shipped wheelhouse."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Directory
from pyinfra.operations import files, pip, server

from webbench_lab.artifacts import Wheelhouse
from webbench_lab.defaults import python_pins
from webbench_lab.deploys._ops import install_packages


@deploy("Python stack")
def python_stack(wheels: Wheelhouse) -> None:
    install_packages("python3-venv", host.data.get("python_stack_packages"))
    base = host.data.get("python_stack_wheelhouse")
    target = f"{base}/{wheels.digest}"
    files.directory(name=f"Directory {base}", path=base, user="root", group="root", mode="755")
    if not host.get_fact(Directory, path=target):
        upload = f"{base}/.{wheels.tarball.name}"
        files.put(name="Upload the wheelhouse", src=str(wheels.tarball), dest=upload, mode="600")
        server.shell(
            name=f"Unpack the wheelhouse into {target}",
            commands=[
                f"rm -rf {target}.partial && mkdir -p {target}.partial",
                f"tar -xf {upload} -C {target}.partial && chmod -R a+rX {target}.partial",
                f"mv {target}.partial {target} && rm -f {upload}",
            ],
        )
    venv = host.data.get("python_stack_venv")
    pip.venv(name=f"venv {venv}", path=venv, python="python3")
    pip.packages(
        name="Pinned Python stack (apps/python-stack.lock)",
        packages=python_pins(),
        pip=f"{venv}/bin/pip",
        extra_install_args=f"--no-index --find-links {target} --no-deps",
    )
