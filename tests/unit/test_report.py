"""The report says, beside a scenario measured with its own settings, what differs from the published
lab and why; the manifest keeps each scenario's effective settings."""

from __future__ import annotations

from webbench_lab.bench import report
from webbench_lab.bench.plan import Options, effective_suite
from webbench_lab.bench.record import CaseRecord, Figures
from webbench_lab.bench.session import _settings
from webbench_lab.bench.suites import load_suite


def _zero(system: str) -> CaseRecord:
    """A CPU-bound case in which no request finished in time: ok, 0 QPS, latency at the timeout."""
    return CaseRecord(
        f"{system}-L4-cpu-bound-r1", system, 4, "CPU-bound", "/fib/35", 1, status="ok",
        figures=Figures(0.0, 8, 8, 0.0, 60000.0, 60000.0, 60000.0, 60000.0, 0),
    )  # fmt: skip


def test_lab_b_report_says_what_differs_for_the_cpu_bound_scenario_and_why():
    suite = load_suite("fastapi_gin_2025")
    (line,) = report.differs(suite)
    assert line.startswith(
        "CPU-bound: 8 concurrent, 60 s, 60 s request timeout instead of 100 concurrent, 20 s: "
    )
    assert line.endswith(suite.scenarios[1].why) and "one-core server" in line
    text = report.markdown(suite, [_zero("fastapi-uvicorn")], {"complete": True})
    table_end = text.index("| CPU-bound | FastAPI (uvicorn)")
    assert text.index(line) > table_end
    (table,) = report.rich_tables(suite, [_zero("fastapi-uvicorn")])
    assert table.caption == line


def test_a_case_with_no_request_in_time_is_a_figure_not_a_failure():
    suite = load_suite("fastapi_gin_2025")
    (_, _, body) = report.tables(suite, [_zero("fastapi-uvicorn")])[0]
    row = next(r for r in body if r[0] == "CPU-bound" and r[1] == "FastAPI (uvicorn)")
    assert row[2:6] == ["0 ±? ?", "1", "60,000.0", "60,000.0"]  # ?: no samples in this record
    assert "Cases without a figure" not in report.markdown(suite, [_zero("gin")], {"complete": True})


def test_a_suite_without_own_settings_has_no_differs_line():
    suite = load_suite("web_bench_2011")
    assert report.differs(suite) == []
    assert report.rich_tables(suite, [])[0].caption is None


def test_manifest_settings_hold_each_scenarios_effective_settings():
    suite = load_suite("fastapi_gin_2025")
    settings = _settings(suite, Options())["scenario_settings"]
    assert settings["simple JSON"] == {"concurrency": 100, "duration_s": 20, "timeout_s": 60}
    assert settings["CPU-bound"] == {
        "concurrency": 8, "duration_s": 60, "timeout_s": 60, "why": suite.scenarios[1].why}  # fmt: skip
    quick = effective_suite(suite, Options(quick=True))
    assert _settings(quick, Options(quick=True))["scenario_settings"]["CPU-bound"]["duration_s"] == 3


def test_rates_keep_the_decimals_they_need():
    # Lab B's CPU-bound Python rates are about 0.3 requests/s: `,.0f` printed them as 0.
    values = (0.3046, 6.97, 28.73, 522.4, 16902.2, 0.0, None)
    assert [report.fmt_rate(v) for v in values] == ["0.30", "6.97", "28.7", "522", "16,902", "0", "-"]
