"""Suites as data: both published suites load, a wrong field is one line naming file, field, type."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from webbench_lab.bench.plan import Options, effective_suite, expected_seconds, plan
from webbench_lab.bench.results import ResultsDir
from webbench_lab.bench.runner import _share
from webbench_lab.bench.suites import SUITES, load_suite
from webbench_lab.errors import UserError


def test_lab_a_suite_is_the_published_one():
    suite = load_suite("web_bench_2011")
    assert (suite.load_tool, suite.concurrency, suite.duration, suite.levels) == ("siege", 200, 20, [1, 2, 4])
    assert suite.scenarios[0].endpoint == "/Hello/100"
    assert len(suite.systems) == 9
    assert suite.published["hello"]["go-http"] == {1: 1350, 2: 1768, 4: 2063}
    assert len(plan(suite)) == 27 * 3  # 3 repeats, then up to 6
    assert (suite.min_repeats, suite.max_repeats, suite.target_ci_pct) == (3, 6, 5.0)


def test_lab_b_suite_and_its_quick_version():
    suite = load_suite("fastapi_gin_2025")
    assert suite.load_tool == "k6"
    assert [s.endpoint for s in suite.scenarios] == ["/ping", "/fib/35", "/data/{id}"]
    quick = suite.quick_version()
    assert quick.duration < suite.duration and "/fib/20" in [s.endpoint for s in quick.scenarios]


def test_narrowing_options():
    suite = load_suite("web_bench_2011")
    run = effective_suite(
        suite, Options(only=["go-http", "tornado"], levels=[2], duration=5, repeats=2, load_tool="wrk")
    )
    cases = plan(run)
    # Interleaved: every case once, then every case again.
    assert [(c.system, c.level, c.repeat) for c in cases] == [
        ("go-http", 2, 1), ("tornado", 2, 1), ("go-http", 2, 2), ("tornado", 2, 2)]  # fmt: skip
    assert (run.min_repeats, run.max_repeats) == (2, 2)  # --repeats N fixes the count
    # The suite calibrates before each case: 1.5 s each in the estimate; --no-calibrate drops it.
    assert run.load_tool == "wrk" and run.calibrate and expected_seconds(run, cases) == 4 * (5 + 3 + 6 + 1.5)
    plain = effective_suite(suite, Options(levels=[2], duration=5, repeats=2, calibrate=False))
    assert not plain.calibrate and expected_seconds(plain, cases) == 4 * (5 + 3 + 6)
    assert not suite.quick_version().calibrate  # quick runs check the lab: no calibration
    assert effective_suite(suite, Options(quick=True, calibrate=True)).calibrate
    with pytest.raises(UserError, match="--only flask-gunicorn: not a system of suite web_bench_2011"):
        effective_suite(suite, Options(only=["flask-gunicorn"]))
    with pytest.raises(UserError, match="--load-tool ab"):
        effective_suite(suite, Options(load_tool="ab"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"duration": "20s"}, "field 'duration' must be a int, got str '20s'"),
        ({"load_tool": "ab"}, "field 'load_tool' must be one of siege, wrk, k6"),
        ({"levels": [1, 0]}, "field 'levels' must be a non-empty list of positive ints"),
        ({"systems": ["nope"]}, "field 'systems' must be a list of known systems"),
        ({"scenarios": [{"name": "x", "endpoint": "ping"}]}, "field 'scenarios' must be a list of"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"repeats": 0}, "field 'repeats' must be a positive int"),
        ({"load_attempts": 0}, "field 'load_attempts' must be a positive int"),
        ({"load_attempts": "3"}, "field 'load_attempts' must be a int"),
        ({"min_repeats": 4, "max_repeats": 3}, "field 'max_repeats' must be an int >= min_repeats (4)"),
        ({"repeats": 2}, "field 'repeats' must be left out with min_repeats"),
        ({"target_ci_pct": 0}, "field 'target_ci_pct' must be a positive number"),
        ({"target_ci_pct": "5%"}, "field 'target_ci_pct' must be a number, got str"),
        ({"quick": {"min_repeats": 0}}, "field 'quick.min_repeats' must be a positive int"),
    ],
)
def test_bad_suite_fields(tmp_path, change, message):
    data = yaml.safe_load((SUITES / "web_bench_2011.yml").read_text())
    data.update(change)
    path = tmp_path / "mysuite.yml"
    data["name"] = "mysuite"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError) as err:
        load_suite(str(path))
    assert message in str(err.value) and "mysuite.yml" in str(err.value)


def test_missing_field_and_wrong_name(tmp_path):
    path = tmp_path / "other.yml"
    data = yaml.safe_load((SUITES / "web_bench_2011.yml").read_text())
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="field 'name' must be the file's name 'other'"):
        load_suite(str(path))
    del data["duration"]
    data["name"] = "other"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match=r"field 'duration' is missing \(int\)"):
        load_suite(str(path))


def test_bench_cli_bad_suite_is_exit_2_one_line(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("name: broken\nduration: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "webbench_lab", "bench", "--suite", str(path), "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "broken.yml: invalid YAML" in proc.stderr


def test_dry_run_prints_the_plan_and_duration():
    proc = subprocess.run(
        [sys.executable, "-m", "webbench_lab", "bench", "--dry-run", "--only", "go-http"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert "9 cases with siege, 200 concurrent, 20 s each after 3 s warm-up" in proc.stdout
    assert "3 to 6 repeats" in proc.stdout


@pytest.mark.parametrize(("total", "parts"), [(200, 1), (200, 2), (200, 3), (7, 4), (2, 4)])
def test_connections_split_evenly(total, parts):
    shares = [_share(total, parts, i) for i in range(parts)]
    assert max(shares) - min(shares) <= 1 and all(s >= 1 for s in shares)
    assert sum(shares) == max(total, parts)


def test_results_directories_are_never_reused(tmp_path):
    a = ResultsDir(tmp_path, "s")
    b = ResultsDir(tmp_path, "s")
    assert a.path != b.path and a.path.is_dir() and b.path.is_dir()


def test_load_attempts_defaults_to_three_and_can_be_set(tmp_path):
    assert load_suite("web_bench_2011").load_attempts == 3
    data = yaml.safe_load((SUITES / "web_bench_2011.yml").read_text())
    data.update(name="patient", load_attempts=5)
    path = tmp_path / "patient.yml"
    path.write_text(yaml.safe_dump(data))
    assert load_suite(str(path)).load_attempts == 5


def _suite_with(tmp_path, **scenario) -> str:
    data = yaml.safe_load((SUITES / "fastapi_gin_2025.yml").read_text())
    data["name"] = "mysuite"
    data["scenarios"] = [
        {"name": "simple JSON", "endpoint": "/ping"},
        {"name": "CPU", "endpoint": "/fib/35", **scenario},
    ]
    data["published"] = {}
    path = tmp_path / "mysuite.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_lab_b_cpu_bound_scenario_has_its_own_settings_and_says_why():
    suite = load_suite("fastapi_gin_2025")
    ping, cpu, io = suite.scenarios
    assert not ping.overridden and not io.overridden and ping.why == ""
    assert (cpu.concurrency, cpu.duration, cpu.timeout) == (8, 60, 60) and "one-core" in cpu.why
    assert suite.settings(ping) == (100, 20, 60) and suite.settings(cpu) == (8, 60, 60)
    # The published figures are Lab B's, as printed.
    assert suite.published["CPU-bound"]["fastapi-uvicorn"] == {"qps": 15, "p50_ms": 2500, "p99_ms": 3500}


def test_each_case_carries_its_scenarios_effective_settings():
    suite = load_suite("fastapi_gin_2025")
    cases = plan(effective_suite(suite, Options(only=["gin"], repeats=1)))
    assert [(c.scenario, c.concurrency, c.duration, c.timeout) for c in cases] == [
        ("simple JSON", 100, 20, 60), ("CPU-bound", 8, 60, 60), ("I/O-bound", 100, 20, 60)]  # fmt: skip
    assert expected_seconds(suite, cases) == (3 + 20 + 6 + 1.5) * 2 + (3 + 60 + 6 + 1.5)


def test_quick_caps_a_scenarios_duration_and_concurrency_and_duration_overrides_every_scenario():
    suite = load_suite("fastapi_gin_2025")
    quick = plan(effective_suite(suite, Options(quick=True, only=["gin"])))
    assert [(c.endpoint, c.concurrency, c.duration, c.timeout) for c in quick] == [
        ("/ping", 10, 3, 60), ("/fib/20", 8, 3, 60), ("/data/{id}", 10, 3, 60)]  # fmt: skip
    given = plan(effective_suite(suite, Options(duration=7, only=["gin"], repeats=1)))
    assert [(c.concurrency, c.duration) for c in given] == [(100, 7), (8, 7), (100, 7)]


def test_a_scenarios_own_settings_load(tmp_path):
    suite = load_suite(_suite_with(tmp_path, timeout=5, why="slow"))
    assert suite.settings(suite.scenarios[1]) == (100, 20, 5) and suite.scenarios[1].why == "slow"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"concurrency": 0, "why": "x"}, "field 'scenarios.CPU.concurrency' must be a positive int"),
        ({"duration": "60s", "why": "x"}, "field 'scenarios.CPU.duration' must be a positive int"),
        ({"timeout": True, "why": "x"}, "field 'scenarios.CPU.timeout' must be a positive int"),
        ({"timeout": -1, "why": "x"}, "field 'scenarios.CPU.timeout' must be a positive int"),
        ({"timeout": 60}, "field 'scenarios.CPU.why' must be given with timeout: say what differs"),
        ({"concurrency": 8, "why": ""}, "field 'scenarios.CPU.why' must be a non-empty str"),
        ({"why": 3, "duration": 1}, "field 'scenarios.CPU.why' must be a non-empty str"),
        ({"why": "because"}, "field 'scenarios.CPU.why' must be given only with concurrency"),
        ({"timout": 60}, "field 'scenarios.CPU.timout' must be left out (unknown)"),
    ],
)
def test_bad_scenario_settings(tmp_path, scenario, message):
    with pytest.raises(UserError) as err:
        load_suite(_suite_with(tmp_path, **scenario))
    assert message in str(err.value) and "mysuite.yml" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_repeats_settings_and_the_older_fixed_count(tmp_path):
    data = yaml.safe_load((SUITES / "web_bench_2011.yml").read_text())
    data["name"] = "mysuite"
    for key in ("min_repeats", "max_repeats", "target_ci_pct"):
        del data[key]
    path = tmp_path / "mysuite.yml"
    path.write_text(yaml.safe_dump(data))
    suite = load_suite(str(path))  # the defaults
    assert (suite.min_repeats, suite.max_repeats, suite.target_ci_pct) == (3, 6, 5.0)
    assert (suite.quick_version().min_repeats, suite.quick_version().max_repeats) == (1, 1)
    path.write_text(yaml.safe_dump({**data, "repeats": 2}))  # a results directory's older copy
    old = load_suite(str(path))
    assert (old.min_repeats, old.max_repeats) == (2, 2) and len(plan(old)) == 2 * 27
    path.write_text(yaml.safe_dump({**data, "min_repeats": 8, "target_ci_pct": 2.5}))
    many = load_suite(str(path))
    assert (many.min_repeats, many.max_repeats, many.target_ci_pct) == (8, 8, 2.5)
