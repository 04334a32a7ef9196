"""The traffic generator (role loadgen): siege and wrk from Debian, k6 built from its pinned Go
module, and the lab's siege settings."""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from webbench_lab.provision.deploys._ops import install_packages, put_template


@deploy("Load generators")
def loadgen(k6: Path) -> None:
    install_packages("siege and wrk", host.data.get("loadgen_packages"))
    target, link = host.data.get("loadgen_k6_path"), host.data.get("loadgen_k6_link")
    files.directory(name="Directory for k6", path=target.rsplit("/", 1)[0], mode="755")
    files.put(name="k6 (built from go.k6.io/k6, pinned in apps/k6)", src=str(k6), dest=target, mode="755")
    files.link(name=f"{link} -> the lab's k6 build", path=link, target=target)
    # Lab A's 200 users; a run renders its own for each share of them.
    put_template("generator/siegerc.j2", host.data.get("loadgen_siegerc"))
