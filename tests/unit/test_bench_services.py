"""A bench run stops the services it started (Redis, the upstream API) when it ends, before its
audit, and `bench --keep-services` leaves them running, started without the run's id so that no
run's guard ends them. Through the real session, Lab and HostControl over fake hosts
(tests/unit/fakehost.py); only the runner, the guard's hold and the audit are stand-ins."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from webbench_lab.apps import lifecycle
from webbench_lab.apps.lifecycle import Lab
from webbench_lab.apps.systems import get
from webbench_lab.bench import session
from webbench_lab.bench.livereport import LiveReport
from webbench_lab.cli import main as cli

from .fakehost import FakeHost, app_user_ids, fake_hosts, two_hosts

RUN_ID = "20991231T000000Z-abc123"


@pytest.fixture
def lab(monkeypatch):
    """A Lab over fake hosts whose connections carry the run's id, as the session sets them."""
    fake_hosts(monkeypatch, lifecycle)

    def make(keep_services: bool = False) -> Lab:
        made = Lab(two_hosts(redis_seed_count=2), keep_services=keep_services)
        app_user_ids(made.server)
        for hc in made.controls().values():
            hc.run_id = RUN_ID
        return made

    return make


def runs(hc: FakeHost) -> dict[str, str]:
    """The run id each start on this host carried, by name."""
    return dict(hc.started_runs)


def test_the_services_a_run_started_carry_its_id_and_are_stopped_when_it_ends(lab):
    run = lab()
    run.start(get("tornado"), 1)
    assert runs(run.server) == {"redis": RUN_ID, "tornado": RUN_ID}
    assert runs(run.generator) == {"backend": RUN_ID}
    assert run.started_services == ["redis", "backend"]

    ended = session._end_services(run)
    assert ended == {
        "services": {"started": ["redis", "backend"], "stopped": ["redis", "backend"], "kept": []}
    }
    assert run.server.stopped == [("redis", [6379])] and run.generator.stopped == [("backend", [9100])]
    assert "redis" not in run.server.running and "backend" not in run.generator.running
    assert "tornado" in run.server.running  # the system is the runner's to stop, not this
    assert session._end_services(run)["services"]["stopped"] == []  # each is stopped once


def test_keep_services_starts_them_outside_the_run_and_leaves_them_running(lab):
    run = lab(keep_services=True)
    run.start(get("tornado"), 1)
    assert runs(run.server) == {"redis": "", "tornado": RUN_ID}  # the system is still the run's
    assert runs(run.generator) == {"backend": ""}
    assert run.server.run_id == RUN_ID and run.generator.run_id == RUN_ID  # restored after
    # What the guard goes by: the kept services are no process of this run (nor of a dead one).
    listed = {p["name"]: p["run"] for p in run.server.processes()["processes"]}
    assert listed == {"redis": "", "tornado": RUN_ID}

    ended = session._end_services(run)
    assert ended == {
        "services": {"started": ["redis", "backend"], "stopped": [], "kept": ["redis", "backend"]}
    }
    assert run.server.stopped == [] and run.generator.stopped == []
    assert "redis" in run.server.running and "backend" in run.generator.running


def test_services_running_before_the_run_are_left_as_they_were(lab):
    run = lab()
    run.server.running["redis"] = {"name": "redis", "pid": 10, "run": ""}  # `app start` by hand
    run.start(get("tornado"), 1)
    assert "redis" not in runs(run.server) and run.started_services == ["backend"]
    assert session._end_services(run)["services"]["stopped"] == ["backend"]
    assert run.server.stopped == [] and "redis" in run.server.running


def test_a_service_that_does_not_stop_is_recorded_and_the_other_still_stops(lab):
    run = lab()
    run.start(get("tornado"), 1)
    run.server.stop_answers["redis"] = {"ok": False, "error": "redis: ports [6379] remain after KILL"}
    ended = session._end_services(run)["services"]
    assert ended["stopped"] == ["backend"]
    assert ended["problems"] == ["redis: redis: ports [6379] remain after KILL"]
    assert run.generator.stopped == [("backend", [9100])]


# --- through the command line and the session ----------------------------------------------------


class Hold:
    """The run's hold on the lab (its guards are tested in test_agent_guard.py)."""

    def __init__(self, inventory, run_id: str) -> None:
        self.run_id, self.dead_runs = RUN_ID, []

    def release(self) -> dict:
        return {}

    def release_quietly(self) -> None:
        pass


class OneSystemRunner:
    """Starts each case's system through the real Lab (services included), measures nothing."""

    def __init__(self, lab: Lab, suite, results, progress) -> None:
        self.lab, self.suite, self.results, self.progress = lab, suite, results, progress
        self.failed, self.ceilings = 0, {}

    def controls(self) -> list:
        return list(self.lab.controls().values())

    def restore_cpu_limit(self) -> None:
        pass

    def measure_ceilings(self, cases) -> dict:
        return {}

    def run_rounds(self, cases) -> None:
        for case in cases:
            self.lab.start(get(case.system), case.level)

    def emergency_stop(self, systems) -> list[str]:
        return []

    def close(self) -> None:
        pass


@pytest.fixture
def bench(monkeypatch, tmp_path):
    """`webbench-lab bench` for one tornado case on fake hosts; what the audit at the run's end saw."""
    fake_hosts(monkeypatch, lifecycle)
    inventory = two_hosts(redis_seed_count=2)
    labs: list[Lab] = []

    class RecordedLab(Lab):
        def __init__(self, inv, keep_services: bool = False) -> None:
            super().__init__(inv, keep_services=keep_services)
            app_user_ids(self.server)
            labs.append(self)

    seen: list[dict] = []

    def audit(results, lab: Lab) -> dict:
        seen.append({"redis": "redis" in lab.server.running, "backend": "backend" in lab.generator.running})
        return {"audit_error": "no audit in unit tests", "versions": None}

    monkeypatch.setattr(session, "load_inventory", lambda sources: inventory)
    monkeypatch.setattr(session, "hold_lab", Hold)
    monkeypatch.setattr(session, "Lab", RecordedLab)
    monkeypatch.setattr(session, "Runner", OneSystemRunner)
    monkeypatch.setattr(session, "LiveReport", lambda path: LiveReport(path, ["true"]))
    monkeypatch.setattr(session, "_audit", audit)
    monkeypatch.setattr(session.collect, "git_commit", lambda: "c0ffee")
    inv = tmp_path / "inventory.yml"
    inv.write_text("all: {}\n")
    root = tmp_path / "results"

    def run(*extra: str) -> SimpleNamespace:
        args = ["bench", "--only", "tornado", "--levels", "1", "--repeats", "1", "--results", str(root)]
        code = cli.main([*args, *extra, "-i", str(inv)])
        (path,) = root.iterdir()
        manifest = json.loads((Path(path) / "manifest.json").read_text())
        return SimpleNamespace(code=code, lab=labs[-1], manifest=manifest, audit_saw=seen[-1])

    return run


def test_a_run_stops_its_services_before_its_audit_and_says_so_in_its_manifest(bench):
    ran = bench()
    assert ran.code == 0
    assert ran.audit_saw == {"redis": False, "backend": False}
    assert ran.manifest["services"] == {
        "started": ["redis", "backend"],
        "stopped": ["redis", "backend"],
        "kept": [],
    }
    assert runs(ran.lab.server)["redis"] == RUN_ID
    assert ran.lab.server.stopped[-1] == ("redis", [6379])


def test_bench_keep_services_leaves_them_running(bench):
    ran = bench("--keep-services")
    assert ran.code == 0
    assert ran.audit_saw == {"redis": True, "backend": True}
    assert ran.manifest["services"] == {
        "started": ["redis", "backend"],
        "stopped": [],
        "kept": ["redis", "backend"],
    }
    assert runs(ran.lab.server)["redis"] == "" and runs(ran.lab.generator)["backend"] == ""
    assert ("redis", [6379]) not in ran.lab.server.stopped
