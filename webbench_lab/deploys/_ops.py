"""Operations every deploy uses: a file from templates/, and packages without needless apt updates."""

from __future__ import annotations

import io

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

from webbench_lab.templating import render


def put_template(template: str, dest: str, mode: str = "644", **context):
    """files.put of the rendered text: pyinfra compares checksums, so an unchanged file is a no-op."""
    return files.put(
        name=f"Render {dest}",
        src=io.StringIO(render(template, **context)),
        dest=dest,
        user="root",
        group="root",
        mode=mode,
    )


def install_packages(name: str, packages: list[str]):
    """apt-get update only when something is missing, so a provisioned host shows no change."""
    installed = host.get_fact(DebPackages)
    if any(pkg not in installed for pkg in packages):
        apt.update(name="Update apt lists", cache_time=600)
    return apt.packages(name=name, packages=packages, no_recommends=True)
