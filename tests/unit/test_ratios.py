"""The report's ratios (ours / Go http in Lab A, Gin / system in Lab B): the ratio of the mean rates
with its Fieller interval from both cases' repeats, beside the published ratio, and the verdict."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from webbench_lab.bench import report
from webbench_lab.bench.plan import Case
from webbench_lab.bench.record import CaseRecord, Figures, Resources
from webbench_lab.bench.stats import fieller_ci
from webbench_lab.bench.suites import load_suite


def _record(system: str, scenario: str, repeat: int, rate: float, bound: bool | None = False) -> CaseRecord:
    key = Case(system, 1, scenario, "/x", repeat).key
    figures = Figures(rate, int(rate * 20), 0, 100.0, None, None, None, 1.0, 10)
    resources = Resources(90.0, 80.0, 10.0, 9.0, 50.0, False, {"server": 20}, False, 18.0, 16.0)
    resources = dataclasses.replace(resources, generator_bound=bound)
    return CaseRecord(
        key, system, 1, scenario, "/x", repeat, status="ok", figures=figures, resources=resources,
        cpus_asked=1, server_cpus=1, oversubscribed=False,
    )  # fmt: skip


def _rows(system: str, scenario: str, rates: list[float], bound: bool | None = False) -> list[CaseRecord]:
    return [_record(system, scenario, i + 1, r, bound) for i, r in enumerate(rates)]


GO = [1000.0, 1040.0, 960.0, 1010.0]
TORNADO = [250.0, 262.0, 244.0]
GEVENT = [360.0, 372.0, 350.0]  # about 0.36 of Go http: Lab A's 488 / 1350 = 0.361 is inside


def _lab_a(rows: list[CaseRecord]) -> dict[str, list[str]]:
    suite = dataclasses.replace(
        load_suite("web_bench_2011"), systems=["go-http", "tornado", "webpy-gevent", "webgo"], levels=[1]
    )
    ((_, header, body),) = report.tables(suite, rows)
    assert header[5:] == ["ours / Go http [95% CI]", "published / Go http", "ours vs published"]
    return {row[0]: row for row in body}


def test_lab_a_ratio_to_go_http_has_fieller_interval_and_a_verdict_against_the_published_one():
    rows = (
        _rows("go-http", "hello", GO)
        + _rows("tornado", "hello", TORNADO)
        + _rows("webpy-gevent", "hello", GEVENT)
    )
    table = _lab_a(rows)
    lo, hi = fieller_ci(GO, TORNADO)  # tornado's mean over Go http's
    r = np.mean(TORNADO) / np.mean(GO)
    assert lo < r < hi
    assert table["Tornado"][5] == f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
    assert table["Tornado"][6] == "0.65"  # 882 / 1350
    assert table["Tornado"][7] == "ours lower"  # 0.25: far below 0.65
    assert table["Web.py+gevent"][7] == "within"
    assert table["Go http"][5:] == ["1", "1.00", "-"]
    assert table["Web.go"][5:] == ["-", "0.85", "-"]  # no figure of ours


def test_one_repeat_gives_a_ratio_without_interval_and_no_verdict():
    table = _lab_a(_rows("go-http", "hello", GO) + _rows("tornado", "hello", [250.0]))
    assert table["Tornado"][5] == f"{250.0 / np.mean(GO):.2f} [?]" and table["Tornado"][7] == "?"


@pytest.mark.parametrize(("go_bound", "verdict"), [(True, "generator-bound"), (None, "?")])
def test_a_generator_bound_or_unknown_baseline_gives_no_verdict(go_bound, verdict):
    table = _lab_a(_rows("go-http", "hello", GO, go_bound) + _rows("tornado", "hello", TORNADO))
    assert table["Tornado"][7] == verdict


def test_verdicts_against_the_published_ratio():
    r = report.Ratio(1.0, 0.9, 1.1, False)
    assert [r.against(p) for p in (0.95, 0.9, 1.1, 0.8, 1.2, None)] == [
        "within", "within", "within", "ours higher", "ours lower", "-",
    ]  # fmt: skip
    assert report.Ratio(23.04, 21.7, 24.3, False).cell() == "23.0 [21.7, 24.3]"
    assert report.Ratio(123.4, 100.2, 150.6, False).cell() == "123 [100, 151]"


def test_lab_b_gets_gins_ratio_over_each_system_per_scenario_beside_lab_bs():
    suite = dataclasses.replace(load_suite("fastapi_gin_2025"), levels=[1])
    gin_json, fastapi_json = [40000.0, 41000.0, 39500.0], [10500.0, 11000.0, 10300.0]
    gin_cpu, fastapi_cpu = [210.0, 200.0, 205.0], [9.0, 9.5, 8.8]
    rows = _rows("gin", "simple JSON", gin_json) + _rows("fastapi-uvicorn", "simple JSON", fastapi_json)
    rows += _rows("gin", "CPU-bound", gin_cpu) + _rows("fastapi-uvicorn", "CPU-bound", fastapi_cpu)
    tables = report.tables(suite, rows)
    assert [t[0] for t in tables] == [
        "Lab B, level 1",
        "Lab B, level 1: Gin's rate over each system's, ours beside Lab B's",
    ]
    _, header, body = tables[1]
    assert header == report.LAB_B_RATIO_HEADER
    by_scenario = {row[0]: row for row in body}
    assert set(by_scenario) == {"simple JSON", "CPU-bound"}  # I/O-bound: no Gin figure
    lo, hi = fieller_ci(fastapi_json, gin_json)
    r = np.mean(gin_json) / np.mean(fastapi_json)
    assert by_scenario["simple JSON"][1:] == [
        "FastAPI (uvicorn)",
        f"{r:.2f} [{lo:.2f}, {hi:.2f}]",
        "3.75",
        "within",
    ]
    assert by_scenario["CPU-bound"][3:] == ["13.3", "ours higher"]  # 200 / 15 against about 22.5
    text = report.markdown(suite, rows, {"complete": True})
    assert "| simple JSON | FastAPI (uvicorn) |" in text and "Fieller" in text


def test_lab_b_without_gin_has_no_ratio_table():
    suite = dataclasses.replace(load_suite("fastapi_gin_2025"), levels=[1])
    tables = report.tables(suite, _rows("fastapi-uvicorn", "simple JSON", [10000.0, 10100.0]))
    assert [t[0] for t in tables] == ["Lab B, level 1"]
