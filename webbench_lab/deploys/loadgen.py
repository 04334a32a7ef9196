"""The traffic generator: siege and wrk from Debian, k6 built from its pinned Go module."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from webbench_lab.deploys._ops import install_packages


@deploy("Load generators")
def load_generators(k6: Path) -> None:
    install_packages("siege and wrk", host.data.get("loadgen_packages"))
    target = f"{host.data.get('apps_build_root')}/k6/k6"
    files.directory(name="Directory for k6", path=target.rsplit("/", 1)[0], mode="755")
    files.put(name="k6 (built from go.k6.io/k6, pinned in apps/k6)", src=str(k6), dest=target, mode="755")
    files.link(name="/usr/local/bin/k6 -> the lab's k6 build", path="/usr/local/bin/k6", target=target)
