"""Redis and the upstream API under the agent, against fake hosts (tests/unit/fakehost.py): the
launch specs sent, the seed keys, what is skipped when already running, and how failures read."""

from __future__ import annotations

import json

import pytest

from webbench_lab.apps import services
from webbench_lab.errors import LabFailure

from .fakehost import FakeHost, lab_host, lab_inventory, two_hosts

SETPRIV = ["setpriv", "--reuid=bench", "--regid=bench", "--init-groups", "--"]


def server(**hvars) -> FakeHost:
    return FakeHost(lab_host("srv1", ("server",), "198.19.0.2", **hvars))


def generator(**hvars) -> FakeHost:
    return FakeHost(lab_host("gen1", ("generator",), "198.19.0.1", **hvars))


def test_redis_that_runs_is_neither_started_nor_seeded():
    srv = server()
    srv.running["redis"] = {"name": "redis", "pid": 10}
    services.ensure_redis(srv)
    assert srv.agent_calls() == [["status", "redis"]]
    assert srv.started == [] and srv.commands(r"redis-cli.*") == []


@pytest.mark.parametrize("become", [False, True])
def test_redis_starts_as_the_app_user_in_its_run_directory_and_is_seeded(become):
    srv = server(
        become=become, common_app_user="bench", apps_run_root="/srv/run", redis_port=6390, redis_seed_count=3
    )
    services.ensure_redis(srv)
    (spec,) = srv.started
    assert spec == {
        "name": "redis",
        "processes": [{"argv": [*SETPRIV, "redis-server", "/etc/webbench/redis.conf"]}],
        "ports": [6390],
        "writable": [""],
        "owner": "bench",
        "log": "/srv/run/redis/redis.log",  # redis_run_dir follows apps_run_root
        "wait": 30,
    }
    assert srv.running["redis"]["name"] == "redis"
    seeding = [r for r in srv.ran if r.command.startswith("redis-cli")]
    assert [(r.command, r.stdin) for r in seeding] == [
        (
            "redis-cli -p 6390 > /dev/null",
            "SET cache:1 cached-1\nSET cache:2 cached-2\nSET cache:3 cached-3\n",
        )
    ]
    assert srv.conn.uploads == {}  # every standard input file was used (and removed) by its command
    assert {r.sudo for r in srv.ran} == {become}


def test_redis_seeds_what_the_verification_gate_expects():
    srv = server(redis_seed_count=7)
    services.ensure_redis(srv)
    (seeding,) = [r for r in srv.ran if r.command.startswith("redis-cli")]
    stored = dict(line.split()[1:] for line in seeding.stdin.splitlines())
    assert len(stored) == 7 and stored["cache:7"] == services.seed_value(7)


def test_redis_that_does_not_start_is_a_lab_failure_with_the_last_log_lines_and_no_seeding():
    srv = server()
    srv.start_answers["redis"] = {
        "ok": False,
        "error": "redis: its processes exited before every port answered",
        "log": "/var/lib/webbench/run/redis/redis.log",
        "log_tail": ["one", "two", "# Can't chdir to '/var/lib/webbench/run/redis'", "# Fatal", "exit"],
    }
    with pytest.raises(LabFailure) as err:
        services.ensure_redis(srv)
    assert str(err.value) == (
        "host srv1: redis: its processes exited before every port answered "
        "(# Can't chdir to '/var/lib/webbench/run/redis' | # Fatal | exit)"
    )
    assert srv.commands(r"redis-cli.*") == []


def test_a_start_failure_without_log_lines_is_just_the_error():
    srv = server()
    srv.start_answers["redis"] = {"ok": False, "error": "port 6379 is already in use"}
    with pytest.raises(LabFailure) as err:
        services.ensure_redis(srv)
    assert str(err.value) == "host srv1: port 6379 is already in use"


def test_the_backend_that_runs_is_neither_built_nor_started():
    gen = generator()
    gen.running["backend"] = {"name": "backend", "pid": 10}
    services.ensure_backend(gen)
    assert gen.agent_calls() == [["status", "backend"]]
    assert gen.started == [] and gen.commands(r".*go build.*") == []


def test_the_backend_is_built_and_started_as_the_app_user_on_the_bench_address():
    gen = generator(common_app_user="bench", backend_port=9200, backend_delay="40ms")
    services.ensure_backend(gen)
    (build,) = gen.commands(r".*go build.*")
    assert "cd /opt/webbench/apps/current/backend && " in build
    binary = json.loads(gen.files["/opt/webbench/build/backend/result.json"])["binary"]
    assert binary == "/opt/webbench/build/backend/backend"
    (spec,) = gen.started
    assert spec == {
        "name": "backend",
        "processes": [{"argv": [*SETPRIV, binary, "-listen", "198.19.0.1:9200", "-delay", "40ms"]}],
        "ports": [9200],
        "address": "198.19.0.1",
        "writable": [""],
        "owner": "bench",
        "log": "/var/lib/webbench/run/backend/backend.log",
        "wait": 30,
    }


def test_a_backend_that_does_not_build_is_a_lab_failure_and_is_not_started():
    gen = generator()
    gen.on(r".*go build.*", "main.go:12:5: undefined: http.Foo\n", exited=1)
    with pytest.raises(LabFailure) as err:
        services.ensure_backend(gen)
    assert str(err.value) == "host gen1: the upstream API does not build: main.go:12:5: undefined: http.Foo"
    assert gen.started == []


def test_stop_services_names_each_service_and_its_port():
    srv, gen = server(redis_port=6390), generator(backend_port=9200)
    srv.running["redis"] = {"name": "redis", "pid": 1}
    services.stop_services(srv, gen)
    assert srv.agent_calls() == [["stop", "redis", "6390"]] and "redis" not in srv.running
    assert gen.agent_calls() == [["stop", "backend", "9200"]]


def test_the_api_url_is_the_backend_hosts_bench_address_and_port():
    gen = lab_host("gen1", ("generator",), "198.19.0.1")
    gen2 = lab_host("gen2", ("generator",), "198.19.0.3", backend_port=9300)
    srv = lab_host("srv1", ("server",), "198.19.0.2")
    api = lab_host("api1", ("backend",), "198.19.0.9", backend_port=9200)
    assert services.api_url(two_hosts()) == "http://198.19.0.1:9100"  # the generator, the default port
    assert services.api_url(lab_inventory(gen2, gen, srv)) == "http://198.19.0.3:9300"  # the first one
    assert services.api_url(lab_inventory(gen, srv, api)) == "http://198.19.0.9:9200"
    assert services.backend_host(lab_inventory(gen, srv, api)) is api
