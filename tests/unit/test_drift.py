"""The machine's drift over a run, from its interleaved repeats (bench/drift.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from webbench_lab.bench import drift, report
from webbench_lab.bench.record import CaseRecord, Figures

T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
CASES = [("go-http", 1, "hello", 3600.0), ("tornado", 1, "hello", 1000.0), ("gevent", 1, "hello", 850.0)]


def record(system, level, rate, minutes, repeat=1, status="ok") -> CaseRecord:
    started = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    figures = Figures(rate, int(rate * 20), 0, 100.0, 1.0, 2.0, 3.0, 1.5, 1000) if status == "ok" else None
    return CaseRecord(f"{system}-L{level}-hello-r{repeat}", system, level, "hello", "/", repeat,
                      status=status, started=started, figures=figures)  # fmt: skip


def run(pct_per_hour: float, rounds: int = 4, noise: float = 0.0, seed: int = 1) -> list[CaseRecord]:
    """Interleaved rounds of CASES, one every 5 minutes, each rate times (1 + pct)^hours and, with
    noise, a seeded log-normal factor."""
    rng = np.random.default_rng(seed)
    records, minute = [], 0.0
    for r in range(1, rounds + 1):
        for system, level, _, base in CASES:
            factor = (1 + pct_per_hour / 100) ** (minute / 60) * math.exp(rng.normal(0, noise))
            records.append(record(system, level, base * factor, minute, r))
            minute += 5
    return records


def test_a_steady_fall_is_found_with_its_size_and_the_same_share_of_every_case():
    d = drift.estimate(run(-10.0))
    assert (d.cases, d.repeats) == (3, 12) and d.span_h == pytest.approx(55 / 60)
    assert d.pct_per_hour == pytest.approx(-10.0)
    assert d.over_run_pct == pytest.approx(100 * (0.9 ** (55 / 60) - 1))
    assert d.significant is True and d.spread_trend_pct == pytest.approx(0.0, abs=1e-6)
    assert d.spread_pct > 2  # around their means the repeats spread: the drift is that spread
    assert "the rates fell by 10.0% per hour" in d.line() and "12 repeats of 3 cases over 55 min" in d.line()


def test_with_noise_the_interval_holds_the_true_drift_and_a_rise_is_a_rise():
    d = drift.estimate(run(+15.0, rounds=6, noise=0.03))
    lo, hi = d.ci_pct
    assert lo < 15.0 < hi and d.significant is True and d.pct_per_hour > 0
    assert "the rates rose by" in d.line()


def test_noise_without_drift_is_not_called_drift():
    d = drift.estimate(run(0.0, rounds=6, noise=0.05, seed=7))
    assert d.known and d.significant is False
    lo, hi = d.ci_pct
    assert lo < 0 < hi
    assert d.line().startswith("Drift of the machine over the run: none detected (")


def test_what_cannot_tell_a_trend_is_unknown_never_zero():
    once = run(-10.0, rounds=1)  # one repeat per case
    d = drift.estimate(once)
    assert (d.cases, d.known, d.significant) == (0, False, None)
    assert d.line() == "Drift of the machine over the run: unknown (no case has two timed ok repeats)."
    one_case = [r for r in run(-10.0, rounds=2) if r.system == "go-http"]  # 2 points, 2 parameters
    assert drift.estimate(one_case).known is False
    same_moment = [record("a", 1, 100.0, 0, 1), record("a", 1, 90.0, 0, 2), record("b", 1, 50.0, 0, 1),
                   record("b", 1, 45.0, 0, 2)]  # fmt: skip
    assert drift.estimate(same_moment).known is False
    assert "unknown (2 case(s)" in drift.estimate(same_moment).line()


def test_failed_repeats_and_repeats_without_a_start_are_left_out():
    records = run(-10.0)
    records.append(record("go-http", 1, 0.0, 70, 5, status="failed"))
    untimed = record("tornado", 1, 10.0, 0, 6)
    untimed.started = None
    records.append(untimed)
    assert drift.estimate(records).pct_per_hour == pytest.approx(-10.0)


def test_the_report_says_the_drift_beside_the_figures():
    lines = report.lab_lines({"server_cpu_limit": 0.25}, run(-10.0))
    assert any(line.startswith("Drift of the machine over the run: the rates fell") for line in lines)
    assert not any("Drift" in line for line in report.lab_lines({"server_cpu_limit": 0.25}))
    assert drift.estimate(run(-10.0)).as_dict()["pct_per_hour"] == -10.0
