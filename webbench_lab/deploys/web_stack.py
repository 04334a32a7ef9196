"""The server's front end and cache (nginx + spawn-fcgi for Lab A, Redis for Lab B) and the jail."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from webbench_lab.deploys._ops import install_packages


@deploy("nginx, spawn-fcgi and Redis")
def web_services() -> None:
    install_packages(
        "nginx, spawn-fcgi, redis-server",
        [*host.data.get("nginx_fcgi_packages"), *host.data.get("redis_packages")],
    )


@deploy("Chroot jail")
def chroot_jail() -> None:
    jail = host.data.get("chroot_jail_dir")
    parent = jail.rsplit("/", 1)[0]
    for path in (parent, jail):
        files.directory(name=f"Root-owned {path}", path=path, user="root", group="root", mode="755")
