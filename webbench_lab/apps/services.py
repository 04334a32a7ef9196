"""The services the systems under test call for /data/: Redis on the server (seeded with
cache:<id> keys) and the upstream API on a `backend` host, or on the generator if there is none.
Both run as the unprivileged app user under the appctl agent, like the systems themselves."""

from __future__ import annotations

from webbench_lab.agent.appctl import LaunchSpec, StartAnswer, StopAnswer
from webbench_lab.apps.builds import build_go
from webbench_lab.apps.models import run_as
from webbench_lab.defaults import host_vars
from webbench_lab.errors import LabFailure
from webbench_lab.hosts.control import HostControl
from webbench_lab.hosts.inventory import LabHost, LabInventory

REDIS = "redis"
BACKEND = "backend"


def seed_value(item_id: int) -> str:
    """What Redis holds under cache:<id> (the verification gate expects exactly this)."""
    return f"cached-{item_id}"


def backend_host(inventory: LabInventory) -> LabHost:
    return (inventory.group("backend") or inventory.group("generator"))[0]


def api_url(inventory: LabInventory) -> str:
    """The upstream API as the server reaches it: over the benchmark link."""
    host = backend_host(inventory)
    return f"http://{host.bench_address}:{host_vars(host.vars)['backend_port']}"


def ensure_redis(server: HostControl) -> bool:
    """Start and seed Redis unless it runs; whether this call started it."""
    v = server.vars
    if server.status(REDIS)["systems"][REDIS]["running"]:
        return False
    run_dir = v["redis_run_dir"]
    spec: LaunchSpec = {
        "name": REDIS,
        # Provisioning rendered the config (role redis), with this run directory.
        "processes": [{"argv": [*run_as(server.vars["common_app_user"]), "redis-server", v["redis_config"]]}],
        "ports": [v["redis_port"]],
        "writable": [""],
        "owner": v["common_app_user"],
        "log": f"{run_dir}/redis.log",
        "wait": v["apps_start_timeout"],
    }
    _started(server, server.start(spec))
    seeds = "".join(f"SET cache:{i} {seed_value(i)}\n" for i in range(1, v["redis_seed_count"] + 1))
    server.sh(f"redis-cli -p {v['redis_port']} > /dev/null", stdin=seeds)
    return True


def ensure_backend(hc: HostControl) -> bool:
    """Start the upstream API (built first if needed) unless it runs; whether this call started it."""
    v = hc.vars
    if hc.status(BACKEND)["systems"][BACKEND]["running"]:
        return False
    built = build_go(hc, BACKEND)
    if not built.ok:
        raise LabFailure(f"host {hc.host.name}: the upstream API does not build: {built.reason}")
    listen = f"{hc.host.bench_address}:{v['backend_port']}"
    spec: LaunchSpec = {
        "name": BACKEND,
        "processes": [
            {
                "argv": [
                    *run_as(hc.vars["common_app_user"]),
                    built.binary,
                    "-listen",
                    listen,
                    "-delay",
                    str(v["backend_delay"]),
                ]
            }
        ],
        "ports": [v["backend_port"]],
        "address": hc.host.bench_address,
        "writable": [""],
        "owner": v["common_app_user"],
        "log": f"{v['apps_run_root']}/{BACKEND}/backend.log",
        "wait": v["apps_start_timeout"],
    }
    _started(hc, hc.start(spec))
    return True


def _started(hc: HostControl, answer: StartAnswer) -> None:
    if not answer.get("ok"):
        tail = " | ".join(answer.get("log_tail", [])[-3:])
        raise LabFailure(f"host {hc.host.name}: {answer.get('error')}{' (' + tail + ')' if tail else ''}")


def stop_service(hc: HostControl, name: str) -> StopAnswer:
    """Stop Redis or the upstream API on its host, and confirm its port free."""
    port = hc.vars["redis_port"] if name == REDIS else hc.vars["backend_port"]
    return hc.stop(name, [port])


def stop_services(server: HostControl, backend: HostControl) -> None:
    stop_service(server, REDIS)
    stop_service(backend, BACKEND)
