"""The traffic generator: siege and wrk from Debian, k6 built from its pinned Go module."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from webbench_lab.deploys._ops import install_packages


@deploy("Load generators")
def load_generators() -> None:
    install_packages("siege and wrk", host.data.get("loadgen_packages"))
    files.link(
        name="/usr/local/bin/k6 -> the lab's k6 build",
        path="/usr/local/bin/k6",
        target=f"{host.data.get('apps_build_root')}/k6/k6",
    )
