"""The runner's orchestration without a lab: Runner.run over a fake Lab (the order of start, verify,
measure and stop per system and level; what a system that does not start or verify leaves in the
results), emergency_stop over fake hosts, and one whole run through the real Lab, HostControl and
fabric ThreadingGroup over fake connections (tests/unit/fakehost.py), with siege's recorded output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from webbench_lab.apps import lifecycle
from webbench_lab.apps.lifecycle import Lab
from webbench_lab.apps.verify import Check
from webbench_lab.bench import runner as runner_mod
from webbench_lab.bench.plan import Case, plan
from webbench_lab.bench.record import CaseRecord, Figures
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.runner import Runner
from webbench_lab.bench.suites import Scenario, load_suite
from webbench_lab.errors import LabFailure, UserError

from .fakehost import FakeHost, app_user_ids, fake_hosts, lab_host, lab_inventory

SIEGE_OUTPUT = Path(__file__).resolve().parents[1] / "fixtures" / "loadtools" / "siege-go-http-c200.txt"
STOP_IT = "; stop it first (`webbench-lab app stop`)"


def case(system: str, level: int = 1, repeat: int = 1, scenario: str = "hello") -> Case:
    return Case(system, level, scenario, "/Hello/100", repeat)


class FakeLab:
    """What the runner uses of a Lab: start, probe and stop (recorded, failures scripted per system),
    the run root, and fake hosts for the server and the generators."""

    def __init__(self, generators: int = 1) -> None:
        gens = [lab_host(f"gen{i + 1}", ("generator",), f"198.19.0.{10 + i}") for i in range(generators)]
        srv = lab_host("srv1", ("server",), "198.19.0.2")
        self.inventory = lab_inventory(*gens, srv)
        self.server = FakeHost(srv)
        self.generator = FakeHost(gens[0])
        self.paths = lifecycle.HostPaths("", "", "", "", self.server.vars["apps_run_root"], "", "", ())
        self.events: list[tuple] = []
        self.start_errors: dict[str, Exception] = {}
        self.checks: dict[str, list[Check]] = {}
        self.start_writes: dict[tuple[str, str], str] = {}  # (system, log file) -> what a start adds

    def start(self, system, level: int) -> None:
        """Recorded; like appctl, a start appends to the system's log (or fails as scripted)."""
        self.events.append(("start", system.name, level))
        self.starts = getattr(self, "starts", 0) + 1
        log = f"{self.paths.run_root}/{system.name}/app.log"
        self.server.files[log] = self.server.files.get(log, "") + f"start {self.starts}\n"
        for (name, file), text in self.start_writes.items():
            if name == system.name:
                path = f"{self.paths.run_root}/{name}/{file}"
                self.server.files[path] = self.server.files.get(path, "") + text
        if system.name in self.start_errors:
            raise self.start_errors[system.name]

    def probe(self, system, level: int) -> list[Check]:
        self.events.append(("probe", system.name, level))
        return self.checks.get(system.name, [Check("/Hello/100", True), Check("/ping", True)])

    def stop(self, system) -> None:
        self.events.append(("stop", system.name))

    def log(self, system: str, text: str, name: str = "app.log") -> None:
        self.server.files[f"{self.paths.run_root}/{system}/{name}"] = text


class MeasureRecorder(Runner):
    """The runner with `_measure` recorded (tests/unit/test_load_attempts.py measures for real);
    its progress is itself."""

    def __init__(self, lab: FakeLab, results: ResultsDir, fail_on: str = "") -> None:
        super().__init__(lab, load_suite("web_bench_2011"), results, progress=self)  # type: ignore[arg-type]
        self.events = lab.events
        self.fail_on = fail_on

    def system(self, name: str, level: int) -> None:
        self.events.append(("system", name, level))

    def case(self, case: Case) -> None:
        self.events.append(("case", case.key))

    def _measure(self, system, case: Case) -> None:
        self.events.append(("measure", case.key))
        if case.key == self.fail_on:
            raise LabFailure("host gen1 (root@192.0.2.10:22): connection lost (EOFError: )")


@pytest.fixture
def results(tmp_path) -> ResultsDir:
    return ResultsDir(tmp_path / "results", "web_bench_2011")


def test_each_case_runs_on_a_system_started_for_it_and_stopped_after_it(results):
    lab = FakeLab()
    lab.log("go-http", "go-http: an earlier run\n")
    cases = [case("go-http", 1, 1), case("tornado", 2, 1), case("go-http", 1, 2), case("go-http", 2, 1)]
    runner = MeasureRecorder(lab, results)
    runner.run(cases)
    a, b, c, d = (x.key for x in cases)
    assert lab.events == [
        ("system", "go-http", 1), ("start", "go-http", 1), ("probe", "go-http", 1),
        ("case", a), ("measure", a), ("stop", "go-http"),
        ("system", "tornado", 2), ("start", "tornado", 2), ("probe", "tornado", 2),
        ("case", b), ("measure", b), ("stop", "tornado"),
        ("system", "go-http", 1), ("start", "go-http", 1), ("probe", "go-http", 1),
        ("case", c), ("measure", c), ("stop", "go-http"),
        ("system", "go-http", 2), ("start", "go-http", 2), ("probe", "go-http", 2),
        ("case", d), ("measure", d), ("stop", "go-http"),
    ]  # fmt: skip
    assert runner.failed == 0
    # Each case keeps what its own start wrote to the log, not the earlier lines.
    kept = [(results.case_dir(x) / "app.log").read_text() for x in cases]
    assert kept == ["start 1\n", "start 2\n", "start 3\n", "start 4\n"]


def read_record(results: ResultsDir, c: Case) -> CaseRecord:
    data = json.loads((results.case_dir(c) / "case.json").read_text())
    record = CaseRecord.from_json(data)
    assert record == results.records[c.key]
    return record


def test_a_system_that_does_not_start_fails_each_of_its_cases_and_the_run_goes_on(results):
    lab = FakeLab()
    lab.start_errors["tornado"] = LabFailure(
        "system tornado: tornado: ports [8001] did not answer within 30 s; last lines of "
        "/var/lib/webbench/run/tornado/app.log:\n  OSError: [Errno 98] Address already in use"
    )
    lab.log("tornado", "OSError: [Errno 98] Address already in use\n")
    failing = [case("tornado", 2, 1), case("tornado", 2, 2, scenario="Fib 20")]
    after = case("go-http", 1, 1)
    runner = MeasureRecorder(lab, results)
    runner.run([*failing, after])

    assert runner.failed == 2
    assert lab.events.count(("start", "tornado", 2)) == 2  # tried again for its second case
    assert ("probe", "tornado", 2) not in lab.events and ("stop", "tornado") not in lab.events
    assert [e for e in lab.events if e[0] == "measure"] == [("measure", after.key)]
    assert ("stop", "go-http") in lab.events
    for c in failing:
        record = read_record(results, c)
        assert record.status == "failed" and record.figures is None
        assert record.reason == (
            "start: tornado: ports [8001] did not answer within 30 s; last lines of "
            "/var/lib/webbench/run/tornado/app.log:\n  OSError: [Errno 98] Address already in use"
        )
        assert (record.system, record.level, record.scenario, record.repeat) == (
            c.system,
            c.level,
            c.scenario,
            c.repeat,
        )
    # Its log, which says why, is kept with each case: what each start added.
    assert [(results.case_dir(c) / "app.log").read_text() for c in failing] == ["start 1\n", "start 2\n"]
    assert after.key not in results.records  # measured (here: recorded by the fake) instead
    summary = json.loads((results.path / "summary.json").read_text())
    assert [row["case"] for row in summary if row["row"] == "repeat"] == [c.key for c in failing]


def test_a_system_that_does_not_build_is_not_buildable_and_does_not_fail_the_run(results):
    lab = FakeLab()
    reason = "not buildable: main.go:7:2: undefined: vector.Vector"
    lab.start_errors["webgo"] = UserError(f"system webgo: {reason}")
    c, again = case("webgo"), case("webgo", 2)
    runner = MeasureRecorder(lab, results)
    runner.run([c, again])
    for x in (c, again):
        record = read_record(results, x)
        assert (record.status, record.reason) == ("not buildable", f"start: {reason}")
    assert runner.failed == 0
    # Built once: its other cases are not buildable without trying again.
    assert lab.events == [
        ("system", "webgo", 1), ("start", "webgo", 1), ("case", c.key),
        ("system", "webgo", 2), ("case", again.key),
    ]  # fmt: skip


def test_a_system_someone_else_runs_fails_its_cases_and_is_left_running(results):
    lab = FakeLab()
    lab.start_errors["go-http"] = UserError(f"system go-http: go-http is already running (pid 9){STOP_IT}")
    c = case("go-http")
    runner = MeasureRecorder(lab, results)
    runner.run([c])
    record = read_record(results, c)
    assert record.status == "failed"
    assert record.reason == f"start: go-http is already running (pid 9){STOP_IT}"
    assert ("stop", "go-http") not in lab.events and runner.failed == 1


def test_a_system_that_answers_wrong_fails_its_cases_with_the_first_wrong_answer_and_is_stopped(results):
    lab = FakeLab()
    lab.checks["tornado"] = [
        Check("/Hello/100", True),
        Check("/fib/20", False, "port 8001: status 500, expected 200"),
        Check("/data/7", False, "no answer: timed out"),
    ]
    cases = [case("tornado", 2, 1), case("tornado", 2, 2)]
    runner = MeasureRecorder(lab, results)
    runner.run(cases)
    assert [read_record(results, c).reason for c in cases] == [
        "verification: /fib/20: port 8001: status 500, expected 200"
    ] * 2
    assert runner.failed == 2
    assert [e for e in lab.events if e[0] in ("measure", "stop")] == [("stop", "tornado")] * 2


def test_a_failure_while_measuring_still_stops_the_system_and_keeps_its_logs(results):
    lab = FakeLab()
    cases = [case("go-http", 1, 1), case("go-http", 1, 2), case("go-http", 1, 3), case("tornado", 1, 1)]
    runner = MeasureRecorder(lab, results, fail_on=cases[1].key)
    with pytest.raises(LabFailure, match="connection lost"):
        runner.run(cases)
    assert lab.events[-2:] == [("measure", cases[1].key), ("stop", "go-http")]
    assert ("system", "tornado", 1) not in lab.events and lab.events.count(("start", "go-http", 1)) == 2
    assert (results.case_dir(cases[1]) / "app.log").read_text() == "start 2\n"


def test_every_log_of_the_process_model_is_kept_and_an_empty_one_is_not_written(results):
    lab = FakeLab()
    lab.log("tornado-nginx", "nginx: an earlier run\n", name="nginx-error.log")
    lab.start_writes[("tornado-nginx", "nginx-error.log")] = "nginx: [emerg] bind() failed\n"
    lab.log("webpy-nginx", "nginx: an earlier run\n", name="nginx-error.log")
    a, b = case("tornado-nginx", 2), case("webpy-nginx", 1)
    MeasureRecorder(lab, results).run([a, b])
    assert sorted(p.name for p in results.case_dir(a).iterdir()) == ["app.log", "nginx-error.log"]
    # Only what the case's start added: webpy-nginx's nginx log did not grow.
    assert (results.case_dir(a) / "nginx-error.log").read_text() == "nginx: [emerg] bind() failed\n"
    assert sorted(p.name for p in results.case_dir(b).iterdir()) == ["app.log"]


# -- emergency_stop -----------------------------------------------------------------------------


@pytest.fixture
def two_generators(monkeypatch, results):
    """A runner over a fake lab with two generators: the second one is the runner's own connection."""
    fake_hosts(monkeypatch, runner_mod)
    lab = FakeLab(generators=2)
    runner = MeasureRecorder(lab, results)
    return lab, runner


def test_emergency_stop_stops_the_load_and_samplers_everywhere_and_the_systems_on_the_server(two_generators):
    lab, runner = two_generators
    gen1, gen2 = runner.generators
    assert gen1 is lab.generator and gen2.host.name == "gen2"
    problems = runner.emergency_stop(["tornado", "go-http"])
    assert problems == []
    for gen in (gen1, gen2):
        assert gen.agent_calls() == [["stop", "load"], ["stop", "sampler-load"]]
    assert lab.server.agent_calls() == [
        ["stop", "tornado"],
        ["stop", "go-http"],
        ["stop", "ceiling"],
        ["stop", "sampler-tornado"],
        ["stop", "sampler-go-http"],
        ["stop", "sampler-ceiling"],
    ]


def test_emergency_stop_goes_on_past_hosts_that_do_not_answer_and_names_the_systems(two_generators):
    lab, runner = two_generators
    gen1, gen2 = runner.generators
    gen1.stop_answers["load"] = "Traceback (most recent call last):\nOSError: no space left\n"
    lab.server.stop_answers["tornado"] = "Traceback (most recent call last):\nMemoryError\n"
    problems = runner.emergency_stop(["tornado", "go-http"])
    assert gen1.agent_calls() == gen2.agent_calls() == [["stop", "load"], ["stop", "sampler-load"]]
    assert [c[1] for c in lab.server.agent_calls()] == [
        "tornado",
        "go-http",
        "ceiling",
        "sampler-tornado",
        "sampler-go-http",
        "sampler-ceiling",
    ]
    assert problems == [
        "tornado: host srv1: the lab agent did not answer (Traceback (most recent call last): | "
        "MemoryError); was the host provisioned (`webbench-lab provision`)?"
    ]


def test_emergency_stop_reports_a_system_the_agent_could_not_stop(two_generators):
    lab, runner = two_generators
    lab.server.stop_answers["tornado"] = {
        "ok": False,
        "killed": True,
        "left": [4242],
        "busy_ports": [8000],
        "error": "tornado: processes [4242] or ports [8000] remain after KILL",
    }
    problems = runner.emergency_stop(["tornado"])
    assert any("tornado" in p and "remain after KILL" in p for p in problems)


def test_close_closes_only_the_runners_own_connections(two_generators):
    lab, runner = two_generators
    gen1, gen2 = runner.generators
    runner.close()
    assert (gen1.conn.closed, gen2.conn.closed, lab.server.conn.closed) == (0, 1, 0)


# -- a whole run over fake hosts ----------------------------------------------------------------


def sample(host_cpu: float, proc_cpu: float = 0.0, rss_kb: int = 0) -> dict:
    return {"t": 1.0, "host_cpu_pct": host_cpu, "cpus": 1, "proc_cpu_pct": proc_cpu, "rss_kb": rss_kb}


def _whole_run(monkeypatch, tmp_path):
    """A lab of fake hosts (two generators, one server) and a runner for two go-http cases."""
    fake_hosts(monkeypatch, lifecycle, runner_mod)
    inventory = lab_inventory(
        lab_host("gen1", ("generator",), "198.19.0.1"),
        lab_host("gen2", ("generator",), "198.19.0.3"),
        lab_host("srv1", ("server",), "198.19.0.2", cpus="1", redis_seed_count=2),
    )
    lab = Lab(inventory)
    server = lab.server
    app_user_ids(server)
    server.files["/var/lib/webbench/run/go-http/app.log"] = "go-http: an earlier run\n"
    server.samples["go-http"] = [sample(50.0, 40.0, 20480), sample(70.0, 60.0, 30720)]
    suite = dataclasses.replace(
        load_suite("web_bench_2011"), duration=2, warmup=1, concurrency=10, load_attempts=3
    )
    results = ResultsDir(tmp_path / "results", suite.name)
    told: list = []
    progress = SimpleNamespace(
        system=lambda name, level: told.append((name, level)),
        case=lambda c: told.append(c.key),
        hung=lambda *a: told.append(("hung", *a)),
    )
    runner = Runner(lab, suite, results, progress)
    gens = runner.generators
    siege = SIEGE_OUTPUT.read_text()
    for gen, cpu in zip(gens, (30.0, 50.0), strict=True):
        gen.load_output = siege
        gen.samples["load"] = [sample(cpu)]
    cases = [case("go-http", 1, 1), case("go-http", 1, 2)]

    return lab, server, runner, cases, told


def test_a_whole_run_through_the_lab_and_the_agents_of_fake_hosts(monkeypatch, tmp_path):
    _, server, runner, cases, told = _whole_run(monkeypatch, tmp_path)
    gens = runner.generators
    siege = SIEGE_OUTPUT.read_text()
    suite, results = runner.suite, runner.results
    runner.run(cases)
    runner.close()

    assert told == [("go-http", 1), cases[0].key, ("go-http", 1), cases[1].key]
    assert runner.failed == 0
    # The server: Redis, then per case the system, its sampler, and both stopped.
    starts = [s["name"] for s in server.started]
    assert starts == ["redis", "go-http", "sampler-go-http", "go-http", "sampler-go-http"]
    assert [name for name, _ in server.stopped] == ["sampler-go-http", "go-http"] * 2
    probes = gens[0].probed
    assert len(probes) == 2 and all("http://198.19.0.2:8000/ping" in p for p in probes)

    # Each generator: a warm-up and a measurement per case, each with half the connections,
    # sent to every generator at once as one group command.
    figures = json.loads(siege)
    for gen in gens:
        assert [load["name"] for load in gen.loads] == ["load"] * 4
        durations = [load["interrupt_after"] - runner.load_grace for load in gen.loads]
        assert durations == [suite.warmup, suite.duration] * 2
        for load in gen.loads:
            (proc,) = load["processes"]
            assert proc["argv"][:1] == ["siege"] and proc["argv"][-1] == "http://198.19.0.2:8000/Hello/100"
            assert proc["argv"][proc["argv"].index("-c") + 1] == "5"
        (run_command,) = {r.command for r in gen.ran if r.command.endswith(" run")}
        assert (
            run_command
            == "env WEBBENCH_RUN_ROOT=/var/lib/webbench/run python3 /opt/webbench/lib/appctl.py run"
        )
        assert gen.conn.uploads == {}  # the spec file each host read was removed
        assert not [p for p in gen.files if p.startswith("/var/lib/webbench/run/load/")]  # cleaned up

    for c in cases:
        record = read_record(results, c)
        assert record.status == "ok" and record.attempt == 1 and record.retried is False
        assert record.figures is not None and record.resources is not None
        assert record.figures.rate == pytest.approx(2 * figures["transaction_rate"])
        assert record.figures.requests == 2 * figures["transactions"]
        assert record.resources.server_cpu_pct == 60.0 and record.resources.server_app_cpu_pct == 50.0
        assert record.resources.server_rss_mb == 30.0 and record.resources.generator_cpu_pct == 40.0
        assert record.raw_outputs == ["gen1-siege-0.attempt-1.out", "gen2-siege-0.attempt-1.out"]
        # Each generator's share of the connections and its own figures are in the record; both
        # are on CPU 0 (the fake inventory's), so each is judged on their loads added.
        assert [(p["host"], p["connections"], p["rate"]) for p in record.processes] == [
            ("gen1", 5, figures["transaction_rate"]),
            ("gen2", 5, figures["transaction_rate"]),
        ]
        each = record.resources.generators
        assert each is not None
        assert [(g.name, g.cpus, g.cpu_pct, g.shared_with, g.shared_cpu_pct) for g in each] == [
            ("gen1", "0", 30.0, ["gen2"], 80.0),
            ("gen2", "0", 50.0, ["gen1"], 80.0),
        ]
        assert record.generator_bound is False
        case_dir = results.case_dir(c)
        assert (case_dir / "gen2-siege-0.attempt-1.out").read_text() == siege
        kept = (case_dir / "samples-srv1.attempt-1.jsonl").read_text().splitlines()
        assert [json.loads(line) for line in kept] == server.samples["go-http"]
        assert (case_dir / "app.log").read_text() == "appctl: start go-http\n"  # its own start's lines


def test_generators_sharing_a_cpu_are_bound_when_their_loads_added_are(monkeypatch, tmp_path):
    """Each at about half of CPU 0, their average 47.5%: together they left the CPU no time."""
    _, _, runner, cases, _ = _whole_run(monkeypatch, tmp_path)
    for gen, cpu in zip(runner.generators, (50.0, 45.0), strict=True):
        gen.samples["load"] = [sample(cpu)]
    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    assert record.resources is not None and record.resources.generator_cpu_pct == 47.5
    assert record.generator_bound is True
    assert [g.shared_cpu_pct for g in record.resources.generators or []] == [95.0, 95.0]


def test_a_case_on_a_host_where_a_sampler_was_left_running_is_not_isolated(monkeypatch, tmp_path):
    _, _, runner, cases, _ = _whole_run(monkeypatch, tmp_path)
    runner.generators[1].running["sampler-load"] = {"pid": 99}  # an earlier run's, still there
    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    assert record.status == "not isolated" and record.figures is None
    assert record.reason == "not isolated: gen2: sampler-load after waiting 2.0 s"
    assert record.idle is not None and record.idle["running"] == ["gen2: sampler-load"]
    assert runner.failed == 1 and runner.generators[0].loads == []  # no load was sent


def test_a_busy_server_makes_a_case_not_isolated_and_a_quiet_one_is_recorded(monkeypatch, tmp_path):
    _, server, runner, cases, _ = _whole_run(monkeypatch, tmp_path)
    server.quiet_answer = {"ok": True, "quiet": False, "cpu_pct": 97.5, "waited_s": 30.0}
    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    assert record.status == "not isolated" and "server CPU 97.5% after waiting 30.0 s" in record.reason
    _, _, runner2, cases2, _ = _whole_run(monkeypatch, tmp_path / "again")
    runner2.run(cases2[:1])
    (ok,) = runner2.results.records.values()
    assert ok.status == "ok" and ok.idle == {
        "quiet": True, "cpu_pct": 1.5, "waited_s": 2.0, "window_s": 2.0, "running": []
    }  # fmt: skip


K6_TIMEOUT_OUTPUT = SIEGE_OUTPUT.parent / "k6-timeout-c10.json"


def test_a_case_with_its_own_settings_runs_with_them_and_no_request_in_time_is_an_ok_zero(
    monkeypatch, tmp_path
):
    """k6 with a scenario of its own (4 VUs, 3 s, a 10 s timeout): each generator's script has
    its share of the VUs and a gracefulStop past the timeout, the agent interrupts k6 only after
    that, and a run in which every request timed out (k6's real output) is an ok case at 0/s."""
    _, _, runner, _, _ = _whole_run(monkeypatch, tmp_path)
    scenario = Scenario("hello", "/Hello/100", concurrency=4, duration=3, timeout=10, why="slow")
    runner.suite = dataclasses.replace(runner.suite, load_tool="k6", scenarios=[scenario])
    (the_case,) = plan(
        dataclasses.replace(runner.suite, systems=["go-http"], levels=[1], min_repeats=1, max_repeats=1)
    )
    assert (the_case.concurrency, the_case.duration, the_case.timeout) == (4, 3, 10)
    for gen in runner.generators:
        gen.load_output = K6_TIMEOUT_OUTPUT.read_text()
    runner.run([the_case])

    overrun = 10 + 2  # k6's gracefulStop: the timeout and its slack
    for gen in runner.generators:
        assert [load["interrupt_after"] for load in gen.loads] == [
            1 + overrun + runner.load_grace, 3 + overrun + runner.load_grace]  # fmt: skip
        for load in gen.loads:
            (proc,) = load["processes"]
            assert "--vus" not in proc["argv"] and "--duration" not in proc["argv"]
            (script,) = load["files"].values()
            assert "vus: 2," in script and 'gracefulStop: "12s"' in script and '"10s"' in script
        assert 'duration: "1s"' in next(iter(gen.loads[0]["files"].values()))  # the warm-up
        assert 'duration: "3s"' in next(iter(gen.loads[1]["files"].values()))
    record = read_record(runner.results, the_case)
    assert record.status == "ok" and runner.failed == 0
    assert (record.duration_s, record.concurrency, record.timeout_s) == (3, 4, 10)
    assert record.figures is not None
    assert (record.figures.rate, record.figures.requests, record.figures.failures) == (0.0, 40, 40)
    assert record.figures.p50_ms is not None and record.figures.p50_ms >= 1995


class RateRecorder(MeasureRecorder):
    """A measurement that writes an ok record with the next of its system's scripted rates."""

    def __init__(self, lab: FakeLab, results: ResultsDir, rates: dict[str, list[float]]) -> None:
        super().__init__(lab, results)
        self.rates = {k: list(v) for k, v in rates.items()}

    def _measure(self, system, case: Case) -> None:
        self.events.append(("measure", case.key))
        rate = self.rates[case.system].pop(0)
        figures = Figures(rate, int(rate * 20), 0, 100.0, None, None, None, 1.0, 10)
        self.results.write_case(CaseRecord(**self._case_fields(case, system), status="ok", figures=figures))


def test_rounds_interleave_and_only_noisy_cases_get_more_repeats_up_to_the_maximum(results):
    lab = FakeLab()
    rates = {
        "go-http": [5000.0, 5010.0, 4990.0],  # stable: stops at 3
        "tornado": [3000.0, 3100.0, 2850.0, 3000.0, 3000.0, 9999.0],  # ±10%, ±5.5%, then ±3.7%: 5
        "webpy-nginx": [900.0, 1400.0, 600.0, 1200.0, 700.0, 1300.0, 9999.0],  # noisy: stops at 6
    }
    runner = RateRecorder(lab, results, rates)
    runner.suite = dataclasses.replace(runner.suite, systems=list(rates), levels=[1])
    results.start_manifest(planned_cases=[c.key for c in plan(runner.suite)])
    runner.run_rounds(plan(runner.suite))
    measured = [e[1] for e in lab.events if e[0] == "measure"]
    rounds = [["go-http-L1-hello", "tornado-L1-hello", "webpy-nginx-L1-hello"]] * 3
    expected = [f"{g}-r{r}" for r, groups in enumerate(rounds, 1) for g in groups]
    expected += ["tornado-L1-hello-r4", "webpy-nginx-L1-hello-r4"]
    expected += ["tornado-L1-hello-r5", "webpy-nginx-L1-hello-r5", "webpy-nginx-L1-hello-r6"]
    assert measured == expected
    assert results.manifest["extra_cases"] == expected[9:]
    results.finish_manifest(True)
    assert results.manifest["complete"] is True
    tornado = next(a for a in results.aggregates() if a.system == "tornado")
    assert tornado.n == 5 and tornado.rate.ci95_pct is not None and tornado.rate.ci95_pct <= 5.0


def test_a_level_asking_more_cpus_than_the_server_has_is_oversubscribed(results):
    runner = MeasureRecorder(FakeLab(), results)  # the server's cpus: "0", one CPU
    fields = {
        (name, level): runner._case_fields(case(name, level))
        for name, level in [("go-http", 1), ("go-http", 2), ("webpy-gunicorn", 4), ("tornado-nginx", 1)]
    }
    assert [(f["cpus_asked"], f["server_cpus"], f["oversubscribed"]) for f in fields.values()] == [
        (1, 1, False), (2, 1, True), (4, 1, True), (2, 1, True)]  # fmt: skip
    lab = FakeLab()
    lab.start_errors["tornado"] = LabFailure("system tornado: did not start")
    MeasureRecorder(lab, results).run([case("tornado", 2)])  # a failed case says it too
    assert results.records["tornado-L2-hello-r1"].oversubscribed is True


def test_the_ceiling_is_measured_once_per_concurrency_and_a_case_near_it_is_generator_bound(
    monkeypatch, tmp_path
):
    """The ceiling system (nginx's fixed replies) loaded like a case, its figure in the runner's
    ceilings with its raw outputs in ceiling/c10/; a case at the same rate as the ceiling is
    generator-bound although its generators' CPU (40%) was not."""
    _, server, runner, cases, told = _whole_run(monkeypatch, tmp_path)
    siege = json.loads(SIEGE_OUTPUT.read_text())
    found = runner.measure_ceilings(cases)
    assert list(found) == ["c10"] and told == [("ceiling", 1)]
    top = found["c10"]
    assert top["rate"] == pytest.approx(2 * siege["transaction_rate"]) and top["endpoint"] == "/Hello/100"
    assert top["generator_cpu_pct"] == 40.0 and top["generator_limited"] is False
    assert top["dir"] == "ceiling/c10"
    kept = runner.results.path / "ceiling" / "c10"
    assert (kept / "gen1-siege-0.attempt-1.out").read_text() == SIEGE_OUTPUT.read_text()
    assert [s["name"] for s in server.started][:3] == ["redis", "ceiling", "sampler-ceiling"]
    assert ("ceiling", 1) not in [(n, lv) for n, lv in server.stopped] and "ceiling" in [
        n for n, _ in server.stopped
    ]
    runner.measure_ceilings(cases)  # measured already: not again
    assert told == [("ceiling", 1)] and top["server_unlimited"] is False  # not a local lab

    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    # The generators were not busy during the ceiling: it is a lower bound, and a case at it may
    # or may not have been limited by the generator.
    assert record.ceiling_share == 1.0 and record.near_ceiling is None
    assert record.resources is not None and record.resources.generator_bound is None
    assert record.resources.generator_cpu_pct == 40.0
    runner.ceilings["c10"]["generator_limited"] = True  # a ceiling the generator reached
    runner.run(cases[1:])
    second = runner.results.records[cases[1].key]
    assert second.near_ceiling is True and second.resources is not None
    assert second.resources.generator_bound is True


def test_a_case_well_below_the_ceiling_keeps_its_cpu_verdict_and_without_a_ceiling_has_no_share(
    monkeypatch, tmp_path
):
    _, _, runner, cases, _ = _whole_run(monkeypatch, tmp_path)
    runner.ceilings = {"c10": {"rate": 10_000_000.0, "generator_limited": False}}
    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    assert record.ceiling_share is not None and record.ceiling_share < 0.01 and record.near_ceiling is False
    assert record.resources is not None and record.resources.generator_bound is False
    _, _, runner2, cases2, _ = _whole_run(monkeypatch, tmp_path / "again")
    runner2.run(cases2[:1])
    (plain,) = runner2.results.records.values()
    assert plain.ceiling_share is None and plain.near_ceiling is None


def test_starting_verifying_and_stopping_run_without_the_servers_cpu_limit_and_the_case_with_it(
    results, monkeypatch
):
    """What is not measured need not be slowed by a quarter-core limit; the measurement is."""
    import contextlib

    lab = FakeLab()

    @contextlib.contextmanager
    def unlimited(host):
        assert host is lab.server.host
        lab.events.append(("lift",))
        yield True
        lab.events.append(("limit",))

    monkeypatch.setattr(runner_mod.cpulimit, "unlimited", unlimited)
    c = case("go-http", 1, 1)
    MeasureRecorder(lab, results).run([c])
    assert lab.events == [
        ("system", "go-http", 1), ("lift",), ("start", "go-http", 1), ("probe", "go-http", 1), ("limit",),
        ("case", c.key), ("measure", c.key), ("lift",), ("stop", "go-http"), ("limit",),
    ]  # fmt: skip


def test_a_later_runner_on_the_same_lab_reuses_the_ceiling_and_max_age_0_measures_it(monkeypatch, tmp_path):
    from webbench_lab.bench import ceilingcache

    monkeypatch.setenv("WEBBENCH_LAB_STATE", str(tmp_path / "state"))
    identity = [{"name": "srv1", "host_key": "ssh-ed25519 aaaa"}]
    monkeypatch.setattr(ceilingcache, "lab_identity", lambda inventory: identity)
    _, _, first, cases, told = _whole_run(monkeypatch, tmp_path / "a")
    first.ceiling_max_age_s = 0  # measures, and keeps it for later runs all the same
    measured = first.measure_ceilings(cases)["c10"]
    assert told == [("ceiling", 1)] and "reused_from" not in measured

    _, _, later, _, told = _whole_run(monkeypatch, tmp_path / "b")
    reused = later.measure_ceilings(cases)["c10"]
    assert told == []  # no ceiling load ran
    assert reused["reused_from"]["run"] == first.results.path.name
    assert reused["rate"] == measured["rate"] and reused["dir"] == "ceiling/c10"
    assert (
        later.results.path / "ceiling/c10/gen1-siege-0.attempt-1.out"
    ).read_text() == SIEGE_OUTPUT.read_text()

    _, _, fresh, _, told = _whole_run(monkeypatch, tmp_path / "c")
    fresh.ceiling_max_age_s = 0
    assert "reused_from" not in fresh.measure_ceilings(cases)["c10"] and told == [("ceiling", 1)]
    identity[0]["host_key"] = "ssh-ed25519 bbbb"  # a rebuilt lab
    _, _, rebuilt, _, told = _whole_run(monkeypatch, tmp_path / "d")
    assert "reused_from" not in rebuilt.measure_ceilings(cases)["c10"] and told == [("ceiling", 1)]


def test_each_case_records_the_servers_calibration_taken_before_its_idle_check(monkeypatch, tmp_path):
    """The suite's `calibrate`: appctl calibrate on the server before each case's idle check (which
    then proves the server quiet again), its figures in the case's record; a calibration that fails
    is recorded as an error and the case still counts; without `calibrate`, none is taken."""
    _, server, runner, cases, _ = _whole_run(monkeypatch, tmp_path)
    assert runner.suite.calibrate  # the suite's own setting
    runner.run(cases[:1])
    (record,) = runner.results.records.values()
    assert record.ok and record.calibration == {
        "cpu_loop_ns": 41.0, "memory_us_per_mib": 52.0, "loopback_rtt_us": 14.0,
        "loopback_connect_us": 60.0, "cpu_s": 0.15, "wall_s": 0.6,
    }  # fmt: skip
    verbs = [call[0] for call in server.agent_calls() if call[0] in ("calibrate", "quiet", "start")]
    assert verbs.index("calibrate") < verbs.index("quiet")
    saved = json.loads((runner.results.case_dir(cases[0]) / "case.json").read_text())
    assert saved["calibration"]["loopback_rtt_us"] == 14.0

    _, server2, runner2, cases2, _ = _whole_run(monkeypatch, tmp_path / "refused")
    server2.calibration_answer = None  # the agent answers {"ok": false, ...}
    runner2.run(cases2[:1])
    (failed,) = runner2.results.records.values()
    assert failed.ok and failed.calibration is not None
    assert "unknown command 'calibrate'" in failed.calibration["error"]

    _, server3, runner3, cases3, _ = _whole_run(monkeypatch, tmp_path / "off")
    runner3.suite = dataclasses.replace(runner3.suite, calibrate=False)
    runner3.run(cases3[:1])
    (plain,) = runner3.results.records.values()
    assert plain.ok and plain.calibration is None
    assert not [c for c in server3.agent_calls() if c[0] == "calibrate"]
