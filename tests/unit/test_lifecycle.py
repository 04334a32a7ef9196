"""Lab.start, stop, status and probe against fake hosts (tests/unit/fakehost.py): the real
HostControl over a fake connection, the appctl agent's answers scripted, every command recorded."""

from __future__ import annotations

import json

import pytest

from webbench_lab.apps import lifecycle
from webbench_lab.apps.lifecycle import Lab, Running
from webbench_lab.apps.systems import all_systems, get
from webbench_lab.errors import LabFailure, UserError

from .fakehost import RELEASE, app_user_ids, fake_hosts, lab_host, lab_inventory, two_hosts

AGENT = "env WEBBENCH_RUN_ROOT=/var/lib/webbench/run python3 /opt/webbench/lib/appctl.py"


@pytest.fixture
def lab(monkeypatch):
    journal = fake_hosts(monkeypatch, lifecycle)
    lab = Lab(two_hosts(redis_seed_count=3))
    app_user_ids(lab.server, uid=1001, gid=1002)
    lab.journal = journal
    return lab


def built(lab: Lab, name: str, release: str = "r42", ok: bool = True, reason: str = "") -> None:
    """The server already holds a build result of `name` (as build_go writes it)."""
    binary = f"/opt/webbench/build/{name}/{name}" if ok else ""
    record = {"release": release, "ok": ok, "reason": reason, "binary": binary}
    lab.server.files[f"/opt/webbench/build/{name}/result.json"] = json.dumps(record) + "\n"


def test_the_lab_connects_to_the_server_and_the_first_generator_which_serves_as_backend(monkeypatch):
    fake_hosts(monkeypatch, lifecycle)
    inventory = lab_inventory(
        lab_host("gen1", ("generator",), "198.19.0.1"),
        lab_host("gen2", ("generator",), "198.19.0.3"),
        lab_host("srv1", ("server",), "198.19.0.2"),
    )
    with Lab(inventory) as lab:
        assert (lab.server.host.name, lab.generator.host.name) == ("srv1", "gen1")
        assert lab.backend is lab.generator
        assert sorted(lab.controls()) == ["gen1", "srv1"]
        controls = list(lab.controls().values())
    assert [hc.conn.closed for hc in controls] == [1, 1]  # each connection closed once


def test_a_backend_host_gets_its_own_connection(monkeypatch):
    fake_hosts(monkeypatch, lifecycle)
    inventory = lab_inventory(
        lab_host("gen1", ("generator",), "198.19.0.1"),
        lab_host("srv1", ("server",), "198.19.0.2"),
        lab_host("api1", ("backend",), "198.19.0.9", backend_port=9200),
    )
    lab = Lab(inventory)
    assert lab.backend.host.name == "api1" and lab.backend is not lab.generator
    assert sorted(lab.controls()) == ["api1", "gen1", "srv1"]
    app_user_ids(lab.server)
    lab.start(get("tornado"), 1)
    (backend_spec,) = lab.backend.started
    assert backend_spec["address"] == "198.19.0.9" and backend_spec["ports"] == [9200]
    assert lab.generator.started == []
    env = lab.server.started[-1]["processes"][0]["env"]
    assert env["WEBBENCH_API"] == "http://198.19.0.9:9200"


def test_paths_come_from_the_server_vars_and_the_app_user_ids(monkeypatch):
    fake_hosts(monkeypatch, lifecycle)
    lab = Lab(two_hosts(common_app_user="bench", apps_run_root="/srv/run", nginx_fcgi_levels=[1, 3]))
    app_user_ids(lab.server, uid=2001, gid=2002)
    paths = lab.paths
    assert (paths.uid, paths.gid, paths.user) == (2001, 2002, "bench")
    assert paths.run_root == "/srv/run" and paths.nginx_levels == (1, 3)
    assert paths.apps == "/opt/webbench/apps/current" and paths.python == "/opt/webbench/venv/bin/python"
    assert lab.paths is paths
    assert lab.server.commands(r"id .*") == ["id -u bench; id -g bench"]  # asked once


def test_start_builds_a_go_system_then_starts_redis_and_the_backend_then_the_system(lab):
    running = lab.start(get("go-http"), 2)

    # The build on the server: go build into a new file, moved into place, installed in the jail,
    # and the outcome remembered for the release apps/current points at.
    build = lab.server.commands(r".*go build.*")
    assert len(build) == 1 and "cd /opt/webbench/apps/current/go-http && " in build[0]
    assert build[0].endswith("go build -trimpath -o /opt/webbench/build/go-http/go-http.new . 2>&1")
    assert "install -o root -g root -m 0555 /opt/webbench/build/go-http/go-http" in " ".join(
        lab.server.commands(r".*jail.*")
    )
    result = json.loads(lab.server.files["/opt/webbench/build/go-http/result.json"])
    assert result == {
        "release": RELEASE.rsplit("/", 1)[1],
        "ok": True,
        "reason": "",
        "binary": "/opt/webbench/build/go-http/go-http",
    }

    # Then, in this order: Redis on the server, the upstream API on the generator, the system.
    agent_calls = [(r.host, r.command) for r in lab.journal if r.command.startswith(AGENT)]
    started = [(r.host, json.loads(r.stdin)["name"]) for r in lab.journal if r.command == f"{AGENT} start"]
    assert [c for c in agent_calls if "status" in c[1]] == [
        ("srv1", f"{AGENT} status redis"),
        ("gen1", f"{AGENT} status backend"),
    ]
    assert started == [("srv1", "redis"), ("gen1", "backend"), ("srv1", "go-http")]
    first_start = next(i for i, r in enumerate(lab.journal) if r.command == f"{AGENT} start")
    assert next(i for i, r in enumerate(lab.journal) if r.command == build[0]) < first_start

    spec = lab.server.started[-1]
    (proc,) = spec["processes"]
    jail = "/srv/webbench/jail/go-http"
    assert proc["argv"] == ["chroot", "--userspec=1001:1002", jail, "/go-http", "-port", "8000"]
    assert proc["env"]["WEBBENCH_API"] == "http://198.19.0.1:9100"  # the generator's bench address
    assert proc["env"]["WEBBENCH_REDIS_PORT"] == "6379" and proc["env"]["GOMAXPROCS"] == "2"
    assert spec["meta"] == {"level": 2} and spec["ports"] == [8000] and spec["wait"] == 30
    pid = lab.server.running["go-http"]["pid"]
    assert running == Running("go-http", 2, pid, [8000], "/var/lib/webbench/run/go-http/app.log")


def test_a_current_build_is_not_built_again_but_a_stale_one_is(lab):
    built(lab, "go-http", release="r42")
    lab.start(get("go-http"), 1)
    assert lab.server.commands(r".*go build.*") == []
    lab.stop(get("go-http"))

    built(lab, "go-http", release="r41")
    lab.start(get("go-http"), 1)
    assert len(lab.server.commands(r".*go build.*")) == 1


def test_a_go_system_that_does_not_build_is_not_started(lab):
    lab.server.on(
        r".*go build.*",
        "# example.com/webgo\n/opt/webbench/apps/current/webgo/main.go:7:2: undefined: vector.Vector\n",
        exited=1,
    )
    with pytest.raises(UserError) as err:
        lab.start(get("webgo"), 1)
    assert str(err.value) == "system webgo: not buildable: main.go:7:2: undefined: vector.Vector"
    assert lab.server.started == [] and lab.generator.started == []
    assert json.loads(lab.server.files["/opt/webbench/build/webgo/result.json"])["ok"] is False


def test_running_redis_and_backend_are_left_alone(lab):
    lab.server.running["redis"] = {"name": "redis", "pid": 11}
    lab.generator.running["backend"] = {"name": "backend", "pid": 12}
    lab.start(get("tornado"), 2)
    assert [s["name"] for s in lab.server.started] == ["tornado"]
    assert lab.generator.started == [] and lab.server.commands(r"redis-cli.*") == []
    assert lab.generator.commands(r".*go build.*") == []  # nor is the backend built
    assert lab.server.commands(r".*go build.*") == []  # tornado is not a Go system


@pytest.mark.parametrize(
    "error",
    ['port 8000 is already in use by users:(("nginx",pid=77,fd=6))', "go-http is already running (pid 9)"],
)
def test_a_busy_port_or_a_running_system_is_the_users_to_stop(lab, error):
    built(lab, "go-http")
    lab.server.start_answers["go-http"] = {"ok": False, "error": error}
    with pytest.raises(UserError) as err:
        lab.start(get("go-http"), 1)
    assert str(err.value) == f"system go-http: {error}; stop it first (`webbench-lab app stop`)"


def test_starting_a_running_system_again_is_refused_as_the_agent_refuses_it(lab):
    lab.start(get("tornado"), 1)
    pid = lab.server.running["tornado"]["pid"]
    with pytest.raises(UserError, match=rf"^system tornado: tornado is already running \(pid {pid}\); stop"):
        lab.start(get("tornado"), 1)


def test_another_start_failure_is_a_lab_failure_with_the_log_tail(lab):
    log = "/var/lib/webbench/run/tornado/app.log"
    lab.server.start_answers["tornado"] = {
        "ok": False,
        "error": "tornado: ports [8001] did not answer within 30 s",
        "log": log,
        "log_tail": ["Traceback (most recent call last):", "OSError: [Errno 98] Address already in use"],
    }
    with pytest.raises(LabFailure) as err:
        lab.start(get("tornado"), 2)
    assert str(err.value) == (
        f"system tornado: tornado: ports [8001] did not answer within 30 s; last lines of {log}:\n"
        "  Traceback (most recent call last):\n  OSError: [Errno 98] Address already in use"
    )


def test_a_level_without_an_nginx_site_is_refused_before_the_system_is_sent(lab):
    with pytest.raises(UserError, match=r"^system webpy-nginx: level 3 has no provisioned nginx site"):
        lab.start(get("webpy-nginx"), 3)
    assert "webpy-nginx" not in [s["name"] for s in lab.server.started]


def test_stop_ends_the_system_by_name_and_a_stop_that_fails_is_a_lab_failure(lab):
    lab.start(get("tornado"), 2)
    answer = lab.stop(get("tornado"))
    assert answer["ok"] is True and "tornado" not in lab.server.running
    assert lab.server.stopped == [("tornado", [])]
    assert lab.server.agent_calls()[-1] == ["stop", "tornado"]

    lab.server.stop_answers["tornado"] = {
        "ok": False,
        "killed": True,
        "left": [4242],
        "busy_ports": [8001],
        "error": "tornado: processes [4242] or ports [8001] remain after KILL",
    }
    with pytest.raises(LabFailure) as err:
        lab.stop(get("tornado"))
    assert str(err.value) == "system tornado: tornado: processes [4242] or ports [8001] remain after KILL"


def test_stop_services_stops_redis_and_the_backend_with_their_ports(lab):
    lab.stop_services()
    assert lab.server.stopped == [("redis", [6379])]
    assert lab.generator.stopped == [("backend", [9100])]


def test_status_asks_for_every_system_and_redis_and_reports_the_level(lab):
    lab.start(get("tornado"), 2)
    status = lab.status()
    assert lab.server.agent_calls()[-1] == ["status", *all_systems(), "redis"]
    assert sorted(status) == sorted([*all_systems(), "redis"])
    assert status["tornado"]["running"] is True and status["tornado"]["meta"] == {"level": 2}
    assert status["tornado"]["pid"] == lab.server.running["tornado"]["pid"]
    assert status["redis"]["running"] is True  # started for tornado
    assert status["go-http"] == {"running": False, "pid": None, "processes": [], "meta": {}}


def test_probe_asks_the_generator_for_every_endpoint_on_every_load_port(lab):
    checks = lab.probe(get("tornado"), 2)
    (urls,) = lab.generator.probed
    assert lab.server.probed == []
    assert sorted({u.rsplit(":", 1)[0] for u in urls}) == ["http://198.19.0.2"]  # the bench link
    assert [u for u in urls if u.endswith("/ping")] == [
        "http://198.19.0.2:8000/ping",
        "http://198.19.0.2:8001/ping",
    ]
    assert len(urls) == 2 * len(checks) and all(c.ok for c in checks)


def test_probe_names_the_endpoint_and_the_port_that_answered_wrong(lab):
    lab.generator.wrong["http://198.19.0.2:8001/fib/20"] = {
        "status": 500,
        "headers": [["Content-Length", "0"]],
        "body": "",
    }
    checks = lab.probe(get("tornado"), 2)
    failed = [c for c in checks if not c.ok]
    assert [(c.path, c.detail) for c in failed] == [("/fib/20", "port 8001: status 500, expected 200")]


LEASE = {"run_id": "20261125T180000Z-abc123", "started": "2026-11-25T18:00:00Z", "control_host": "ctl",
         "driver_pid": 4242, "results": "", "guard_pid": 77}  # fmt: skip


def test_a_start_by_hand_during_a_run_is_refused_naming_the_run(lab):
    assert lab.holder() is None
    lab.refuse_if_held("app start go-http")  # no run: nothing to refuse
    lab.server.lease = LEASE
    with pytest.raises(UserError) as err:
        lab.refuse_if_held("app start go-http")
    assert str(err.value) == (
        "app start go-http: the lab is in use: run 20261125T180000Z-abc123 (started 2026-11-25T18:00:00Z"
        " on ctl, driver pid 4242) holds host srv1; wait for it to end"
    )


def test_processes_of_every_host_with_their_runs(lab):
    lab.start(get("tornado"), 1)
    lab.generator.lab_processes = [{"pid": 9, "name": "sampler-load", "run": "dead-run", "args": "python3"}]
    procs = lab.processes()
    assert [p["name"] for p in procs["srv1"]["processes"]] == ["redis", "tornado"]
    assert procs["gen1"]["processes"][-1]["run"] == "dead-run" and procs["gen1"]["lease"] is None


def test_app_list_marks_orphans_and_the_processes_of_the_run_that_holds_the_lab():
    from rich.console import Console

    from webbench_lab.cli.app import process_table

    procs = {
        "srv1": {"ok": True, "lease": LEASE, "processes": [
            {"pid": 10, "name": "go-http", "run": LEASE["run_id"], "args": "/srv/webbench/go-http"},
            {"pid": 11, "name": "redis", "run": "", "args": "redis-server"}]},
        "gen1": {"ok": True, "lease": None, "processes": [
            {"pid": 12, "name": "sampler-load", "run": "20261125T170000Z-dead00", "args": "python3"}]},
    }  # fmt: skip
    console = Console(record=True, width=200)
    console.print(process_table(procs))  # type: ignore[arg-type]
    rows = {line.split("│")[3].strip(): line for line in console.export_text().splitlines() if "│" in line}
    assert "its run is going" in rows["go-http"]
    assert "started by hand" in rows["redis"]
    assert "orphan: its run has ended" in rows["sampler-load"]
