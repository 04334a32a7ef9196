"""The unprivileged user every system under test runs as."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server


@deploy("App user")
def app_user() -> None:
    name = host.data.get("common_app_user")
    server.user(
        name=f"Unprivileged user {name}",
        user=name,
        system=True,
        home=host.data.get("common_app_home"),
        create_home=True,
        shell="/usr/sbin/nologin",
    )
