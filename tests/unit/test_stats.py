"""The statistics of repeated figures (bench/stats.py) against values computed independently, and the
adaptive repeats' decision (stats.needs_more, plan.next_round) without a lab."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from webbench_lab.bench import report
from webbench_lab.bench.plan import Case, next_round, plan
from webbench_lab.bench.record import CaseRecord, Figures, Resources, aggregate
from webbench_lab.bench.stats import Stat, needs_more, summarize
from webbench_lab.bench.suites import load_suite


def test_a_textbook_example_by_hand():
    """x = 10, 12, 14, 16, 18: mean 14, s = sqrt(40 / 4) = 3.1623, s / sqrt(5) = 1.4142, and the
    t table's t(0.975, 4) = 2.776: the 95% interval is 14 ± 3.926 (± 28.05%), RSD 22.59%."""
    stat = summarize([10, 12, 14, 16, 18])
    assert stat.n == 5 and stat.mean == 14
    assert stat.ci95 == pytest.approx(2.776 * 1.4142, rel=1e-3)
    assert stat.ci95_pct == pytest.approx(28.05, abs=0.02)
    assert stat.rsd_pct == pytest.approx(22.59, abs=0.01)


def _t_quantile_by_integration(p: float, df: int) -> float:
    """Student's t quantile from its density (the Gamma-function formula), integrated with numpy's
    trapezoid rule and inverted by bisection: no scipy."""
    c = math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))

    def cdf(x: float) -> float:
        grid = np.linspace(0.0, x, 200_001)
        density = c * (1 + grid**2 / df) ** (-(df + 1) / 2)
        return 0.5 + float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(grid)))

    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


@pytest.mark.parametrize(
    "values", [[4036.0, 3950.0, 4122.0], [1.0, 2.0], [812.5, 790.1, 805.3, 799.9, 820.4, 801.0]]
)
def test_the_interval_and_the_spread_match_numpy_by_another_route(values):
    x = np.array(values)
    n = len(x)
    sd = math.sqrt(float(np.sum((x - x.sum() / n) ** 2)) / (n - 1))  # by the definition
    half = _t_quantile_by_integration(0.975, n - 1) * sd / math.sqrt(n)
    stat = summarize(values)
    assert stat.n == n and stat.mean == pytest.approx(x.sum() / n)
    assert stat.ci95 == pytest.approx(half, rel=1e-4)
    assert stat.rsd_pct == pytest.approx(100 * sd / (x.sum() / n), rel=1e-9)
    assert stat.ci95_pct == pytest.approx(100 * half / (x.sum() / n), rel=1e-4)


def test_one_value_has_no_interval_and_no_values_no_mean():
    assert summarize([4036.0]) == Stat(4036.0, None, None, None, 1)  # unknown, never 0
    assert summarize([]) == Stat(None, None, None, None, 0)
    zeros = summarize([0.0, 0.0, 0.0])  # nothing finished in time, three times
    assert (zeros.mean, zeros.ci95, zeros.ci95_pct) == (0.0, 0.0, None) and zeros.stable(5.0)
    assert not summarize([4036.0]).stable(5.0)


def test_the_decision_stops_at_the_minimum_when_stable_goes_on_when_noisy_and_stops_at_the_maximum():
    stable = summarize([1000.0, 1010.0, 990.0])  # ± 2.5%
    noisy = summarize([1000.0, 1300.0, 800.0])  # ± 62%
    assert stable.ci95_pct is not None and stable.ci95_pct < 5 < (noisy.ci95_pct or 0)
    assert not needs_more(stable, 3, 3, 6, 5.0)
    assert needs_more(noisy, 3, 3, 6, 5.0) and needs_more(noisy, 5, 3, 6, 5.0)
    assert not needs_more(noisy, 6, 3, 6, 5.0)  # the maximum
    assert not needs_more(noisy, 2, 3, 6, 5.0)  # before the minimum the plan's rounds run
    assert not needs_more(noisy, 3, 3, 3, 5.0)  # --repeats 3: min = max
    assert needs_more(noisy, 3, 3, 6, 70.0) is False  # a looser target


def _record(system: str, level: int, repeat: int, rate: float | None, status: str = "ok") -> CaseRecord:
    key = Case(system, level, "hello", "/Hello/100", repeat).key
    figures = None if rate is None else Figures(rate, int(rate * 20), 0, 100.0, None, None, None, 1.0, 10)
    resources = Resources(90.0, 80.0, 10.0, 9.0, 50.0, False, {"server": 20}, False, 18.0, 16.0)
    if figures is not None:
        resources.add_cost(figures.requests)
    return CaseRecord(
        key, system, level, "hello", "/Hello/100", repeat, status=status, figures=figures,
        resources=resources if figures else None, cpus_asked=level, server_cpus=1,
        oversubscribed=level > 1,
    )  # fmt: skip


def test_next_round_gives_another_repeat_only_to_the_noisy_cases():
    suite = dataclasses.replace(
        load_suite("web_bench_2011"), systems=["go-http", "tornado", "webpy-nginx", "twister"], levels=[1]
    )
    rounds = [
        ("go-http", [5000.0, 5010.0, 4990.0]),  # stable at the minimum
        ("tornado", [3000.0, 3600.0, 2500.0]),  # noisy: a 4th repeat
        ("webpy-nginx", [900.0, 1400.0, 600.0, 1200.0, 700.0, 1300.0]),  # noisy, at the maximum
    ]
    records = [_record(s, 1, i + 1, r) for s, rates in rounds for i, r in enumerate(rates)]
    records += [_record("twister", 1, 1, None, "not buildable")]  # never more
    assert [c.key for c in next_round(suite, records)] == ["tornado-L1-hello-r4"]
    # A failed repeat is not noise: no more repeats for that case.
    failed = [*records[:3], _record("tornado", 1, 1, 3000.0), _record("tornado", 1, 2, None, "failed")]
    failed.append(_record("tornado", 1, 3, 2500.0))
    assert next_round(suite, failed) == []
    # Before the planned rounds are done nothing is added (the plan has them).
    assert next_round(suite, records[:2]) == []
    assert [c.repeat for c in plan(suite)] == [1] * 4 + [2] * 4 + [3] * 4


def test_aggregates_and_the_tables_show_mean_interval_n_cost_and_the_oversubscribed_mark():
    suite = dataclasses.replace(load_suite("web_bench_2011"), systems=["go-http"], levels=[1, 2])
    rates = [4036.0, 3950.0, 4122.0]
    rows = [_record("go-http", 1, i + 1, r) for i, r in enumerate(rates)]
    rows += [_record("go-http", 2, 1, 4100.0), _record("go-http", 2, 2, None, "failed")]
    one, two = aggregate(rows)
    assert (one.case, one.n, one.repeats, one.failed) == ("go-http-L1-hello", 3, 3, 0)
    assert one.rate == summarize(rates) and one.oversubscribed is False
    assert one.stats["server_cpu_us_per_req"].mean == pytest.approx(
        np.mean([18.0 / (r * 20) * 1e6 for r in rates]), abs=0.01
    )
    assert (two.n, two.repeats, two.failed, two.oversubscribed) == (1, 2, 1, True)
    row = one.to_json()
    assert row["row"] == "aggregate" and row["rate"] == pytest.approx(4036.0)
    assert row["rate_ci95_pct"] == pytest.approx(summarize(rates).ci95_pct, abs=1e-3) and row["rate_n"] == 3
    (_, header, body1), (_, _, body2) = report.tables(suite, rows)
    assert header[:4] == ["system", "ours", "n", "µs CPU/req (app)"]
    pct = summarize(rates).ci95_pct
    host, app = (one.stats[k].mean or 0 for k in ("server_cpu_us_per_req", "server_app_cpu_us_per_req"))
    assert body1[0][1:4] == [f"4,036 ±{pct:.1f}%", "3", f"{host:,.0f} ({app:,.0f})"]
    assert round(host) == 223 and round(app) == 198  # 18 s and 16 s of CPU over about 80,720 requests
    assert body2[0][1:3] == ["4,100 ±? ⁺", "1 of 2"]
    text = report.markdown(suite, rows, {"complete": True})
    assert "levels 2 and 4 add processes, not CPU" in text and "3 to 6 repeats per case" in text


def test_cpu_per_request_from_the_samples():
    server = [{"host_cpu_pct": 50.0, "cpus": 2, "proc_cpu_pct": 40.0, "rss_kb": 1024}] * 20
    hosts = ["server", "generator:g"]
    gen = [{"host_cpu_pct": 30.0}] * 20
    res = Resources.from_samples({"server": server, "generator:g": gen}, 20, hosts)
    # 50% of 2 CPUs for 20 s = 20 CPU-seconds; the system's processes 40% of a CPU: 8 s.
    assert (res.server_cpu_s, res.server_app_cpu_s) == (20.0, 8.0)
    res.add_cost(100_000)
    assert (res.server_cpu_us_per_req, res.server_app_cpu_us_per_req) == (200.0, 80.0)
    res.add_cost(0)  # no request: no cost
    assert (res.server_cpu_us_per_req, res.server_app_cpu_us_per_req) == (None, None)
    short = Resources.from_samples({"server": server[:5], "generator:g": gen}, 20, hosts)
    short.add_cost(100_000)  # samples missing: unknown
    assert short.samples_missing and short.server_cpu_us_per_req is None
