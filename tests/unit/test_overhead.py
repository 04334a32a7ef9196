"""The overhead benchmark's breakdown: where a run's wall time went, from its files alone."""

from __future__ import annotations

from webbench_lab.bench.overhead import breakdown, describe
from webbench_lab.bench.record import CaseRecord


def record(name: str, started: str | None, ended: str | None, status: str = "ok") -> CaseRecord:
    return CaseRecord(
        case=name, system=name.split("-L")[0], level=1, scenario="hello", endpoint="/", repeat=1,
        status=status, duration_s=20, warmup_s=3, started=started, ended=ended,
        idle={"quiet": True, "waited_s": 2.5} if started else None,
    )  # fmt: skip


def test_the_wall_time_splits_into_load_and_each_phase_around_it():
    manifest = {"started": "2026-11-25T20:00:00Z", "ended": "2026-11-25T20:01:50Z"}
    records = [
        record("b-L1", "2026-11-25T20:00:58Z", "2026-11-25T20:01:22Z"),  # 24 s: 1 s beyond its load
        record("a-L1", "2026-11-25T20:00:30Z", "2026-11-25T20:00:53Z"),  # first (sorted by start)
        record("c-L1", "2026-11-25T20:01:26Z", "2026-11-25T20:01:40Z", status="failed"),
        record("d-L1", None, None, status="not buildable"),
    ]
    o = breakdown(manifest, records)
    assert (o.wall_s, o.load_s, o.measured) == (110, 46, 2)
    assert o.before_first_s == 30 and o.between_s == [5, 4] and o.after_last_s == 10
    assert o.idle_check_s == 5.0  # the first case's idle check is before it, not between cases
    assert o.inside_s == 24 + 23 + 14 - 46  # a failed case's span is all overhead
    assert o.wall_s == o.before_first_s + sum(o.between_s) + o.inside_s + o.load_s + o.after_last_s
    assert abs(o.ratio - 110 / 46) < 1e-9
    text = "\n".join(describe(o))
    assert "= 2.391" in text and "median 4.5 s" in text


def test_the_drivers_own_wall_time_wins_and_a_run_without_cases_is_all_overhead():
    manifest = {"started": "2026-11-25T20:00:00Z", "ended": None}
    o = breakdown(manifest, [record("d-L1", None, None, status="not buildable")], wall_s=12.5)
    assert (o.wall_s, o.load_s, o.ratio, o.before_first_s) == (12.5, 0, None, 12.5)
