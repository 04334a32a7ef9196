"""Lab A's front end (role nginx_fcgi): nginx and spawn-fcgi, and one nginx site per nginx-fronted
system and level, rendered from templates/server/nginx.conf.j2."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from webbench_lab.provision.deploys._ops import install_packages, put_template, root_directory


@deploy("nginx and spawn-fcgi")
def nginx_fcgi(sites: list[dict]) -> None:
    install_packages("nginx, spawn-fcgi", host.data.get("nginx_fcgi_packages"))
    root_directory("Directory for the nginx sites", host.data.get("nginx_fcgi_config_dir"))
    for site in sites:
        context = {k: v for k, v in site.items() if k != "dest"}
        put_template("server/nginx.conf.j2", site["dest"], **context)
