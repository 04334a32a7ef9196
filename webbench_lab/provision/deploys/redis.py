"""Lab B's cache (role redis): redis-server and the lab's redis.conf."""

from __future__ import annotations

from typing import Any

from pyinfra import host
from pyinfra.api import deploy

from webbench_lab.apps.services import REDIS
from webbench_lab.provision.deploys._ops import install_packages, put_template


@deploy("Redis")
def redis() -> None:
    install_packages("redis-server", host.data.get("redis_packages"))
    put_template("server/redis.conf.j2", host.data.get("redis_config"), **redis_conf_vars(host.data))


def redis_conf_vars(v: Any) -> dict[str, Any]:
    """Redis runs under the lab's agent in its own run directory, as the app user (`v`: the
    host's pyinfra data)."""
    return {"redis_port": v.get("redis_port"), "run_dir": f"{v.get('apps_run_root')}/{REDIS}"}
