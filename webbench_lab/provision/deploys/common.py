"""Every lab host (role common): package access, no service auto-start, base packages, app user."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from webbench_lab.provision.deploys._ops import install_packages, put_template, root_directory


@deploy("Common base")
def common() -> None:
    proxy = host.data.get("common_apt_proxy")
    if proxy:
        put_template("host/apt-proxy.conf.j2", host.data.get("common_apt_proxy_file"))
    else:
        files.file(name="No lab apt proxy", path=host.data.get("common_apt_proxy_file"), present=False)
    if host.data.get("common_block_service_autostart"):
        put_template("host/policy-rc.d.j2", host.data.get("common_policy_rc"), mode="755")
    install_packages("Base packages", host.data.get("common_packages"))
    name = host.data.get("common_app_user")
    server.user(
        name=f"Unprivileged user {name}",
        user=name,
        system=True,
        home=host.data.get("common_app_home"),
        create_home=True,
        shell="/usr/sbin/nologin",
    )
    root_directory("Directory for the lab's configuration", host.data.get("common_config_dir"))
