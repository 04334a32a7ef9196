"""Operations every deploy uses: a file from templates/, and packages without needless apt updates."""

from __future__ import annotations

import io
from typing import Any

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import Directory
from pyinfra.operations import apt, files, server

from webbench_lab.provision.artifacts import Bundle
from webbench_lab.templating import render


def put_template(template: str, dest: str, mode: str = "644", **extra: Any):
    """files.put of the template rendered with the host's variables (as Ansible's template module
    sees them) and `extra` (a loop's item): pyinfra compares checksums, so an unchanged file is a
    no-op."""
    return files.put(
        name=f"Render {dest}",
        src=io.StringIO(render(template, **{**host.data.dict(), **extra})),
        dest=dest,
        user="root",
        group="root",
        mode=mode,
    )


# apt-get update, bounded and tried again: on a lab of four hosts refreshing through one
# apt-cacher-ng at once, apt's http method was twice left polling a connection the proxy had closed
# (CLOSE-WAIT, bookworm's InRelease 0 bytes) and apt-get waited on it for good (15 min and more).
# The bounds are common_apt_* in roles/common/defaults/main.yml, shared with the Ansible roles.
def bounded_apt_update(timeout_s: int, attempts: int) -> str:
    """apt-get update killed after `timeout_s`, tried `attempts` times, a line per failed attempt."""
    return (
        f"for attempt in $(seq {attempts}); do"
        f" timeout --kill-after=10 {timeout_s} apt-get update && exit 0;"
        f' echo "apt-get update: attempt $attempt of {attempts} failed or hung" >&2; sleep 2;'
        " done; exit 1"
    )


@operation()
def update_apt_lists(cache_time: int, timeout_s: int, attempts: int):
    """pyinfra's apt.update (its cache_time check and stamp) with apt-get update bounded."""
    for command in apt.update._inner(cache_time=cache_time):
        yield bounded_apt_update(timeout_s, attempts) if command == "apt-get update" else command


def install_packages(name: str, packages: list[str]):
    """apt-get update only when something is missing, so a provisioned host shows no change."""
    installed = host.get_fact(DebPackages)
    if any(pkg not in installed for pkg in packages):
        update_apt_lists(
            name="Update apt lists",
            cache_time=int(host.data.common_apt_cache_valid_s),
            timeout_s=int(host.data.common_apt_update_timeout_s),
            attempts=int(host.data.common_apt_update_attempts),
        )
    return apt.packages(name=name, packages=packages, no_recommends=True)


def root_directory(name: str, path: str):
    """A directory only root may change (0755): where the lab keeps what it installs."""
    return files.directory(name=name, path=path, user="root", group="root", mode="755")


def unpack_bundle(label: str, bundle: Bundle, parent: str, link: str | None = None) -> str:
    """Upload and unpack `bundle` into <parent>/<digest> once (point `link` at it); returns the
    folder. An unpacked folder is never touched again, so a provisioned host shows no change."""
    target = f"{parent}/{bundle.digest}"
    root_directory(f"Directory {parent}", parent)
    if not host.get_fact(Directory, path=target):
        upload = f"{parent}/.{bundle.tarball.name}"
        files.put(name=f"Upload {label}", src=str(bundle.tarball), dest=upload, mode="600")
        script = render("host/unpack.sh.j2", common_bundle_target=target, common_bundle_upload=upload)
        server.shell(name=f"Unpack {label} into {target}", commands=[script])
    if link:
        files.link(name=f"{link} -> {label} {bundle.digest}", path=link, target=target)
    return target
