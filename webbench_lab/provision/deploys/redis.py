"""Lab B's cache (role redis): redis-server and the lab's redis.conf."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from webbench_lab.provision.deploys._ops import install_packages, put_template


@deploy("Redis")
def redis() -> None:
    install_packages("redis-server", host.data.get("redis_packages"))
    put_template("server/redis.conf.j2", host.data.get("redis_config"))
