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
    assert len(plan(suite)) == 27


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
    assert [(c.system, c.level, c.repeat) for c in cases] == [
        ("go-http", 2, 1), ("go-http", 2, 2), ("tornado", 2, 1), ("tornado", 2, 2)]  # fmt: skip
    assert run.load_tool == "wrk" and expected_seconds(run, cases) == 4 * (5 + 3 + 6)
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
    assert "3 cases with siege, 200 concurrent, 20 s each after 3 s warm-up" in proc.stdout


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
