"""The traffic generator: siege and wrk (k6 arrives with the benchmark runner)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from webbench_lab.deploys._ops import install_packages


@deploy("Load generators")
def load_generators() -> None:
    install_packages("siege and wrk", host.data.get("loadgen_packages"))
