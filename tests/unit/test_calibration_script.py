"""benchmarks/calibration.py (issue 30, point 0): does the server's calibration explain the drift?"""

from __future__ import annotations

import dataclasses
import json
import math
import time

from benchmarks import calibration as cal
from webbench_lab.bench import drift
from webbench_lab.bench.record import STAMP, CaseRecord, Figures, stamp_seconds


def _record(system: str, repeat: int, epoch: float, rate: float, costs: dict[str, float]) -> CaseRecord:
    return CaseRecord(
        case=f"{system}-L1-hello-r{repeat}", system=system, level=1, scenario="hello", endpoint="/Hello/100",
        repeat=repeat, status="ok", started=time.strftime(STAMP, time.gmtime(epoch)),
        figures=Figures(rate, 1000, 0, 100.0, None, None, None, None, None),
        calibration={**costs, "cpu_s": 0.15, "wall_s": 0.6},
    )  # fmt: skip


def _run(tmp_path, hours: float = 1.0):
    """Three cases over `hours`, six rounds: the loopback cost rises 40% per hour with a wobble and
    every rate is its case's level divided by it; the CPU loop's cost only wobbles."""
    wobble = [0.0, 0.05, -0.04, 0.03, -0.02, 0.04]
    records = []
    for i, w in enumerate(wobble):
        for j, (system, level) in enumerate((("go-http", 3000.0), ("tornado", 800.0), ("webpy", 300.0))):
            epoch = 1_800_000_000 + (i * 6 + j) * hours * 3600 / 18
            rtt = 14.0 * 1.4 ** ((epoch - 1_800_000_000) / 3600) * math.exp(w)
            costs = {"cpu_loop_ns": 41.0 * math.exp(wobble[-1 - i]), "memory_us_per_mib": 52.0,
                     "loopback_rtt_us": rtt, "loopback_connect_us": 4 * rtt}  # fmt: skip
            records.append(_record(system, i + 1, epoch, level * 14.0 / rtt, costs))
    path = tmp_path / "run"
    path.mkdir()
    (path / "summary.json").write_text(json.dumps([r.to_json() for r in records]))
    return path, records


def test_a_cost_that_is_the_machines_speed_takes_the_drift_out_and_one_that_is_not_leaves_it(tmp_path):
    _, records = _run(tmp_path)
    raw = drift.estimate(records)
    assert raw.pct_per_hour is not None and raw.pct_per_hour < -20 and raw.significant
    fixed = drift.estimate(cal.normalized(records, "loopback_rtt_us"))
    assert fixed.pct_per_hour is not None and abs(fixed.pct_per_hour) < 0.5
    assert fixed.spread_pct is not None and fixed.spread_pct < 0.5  # the wobble went too
    unrelated = drift.estimate(cal.normalized(records, "cpu_loop_ns"))
    assert unrelated.pct_per_hour is not None and unrelated.pct_per_hour < -20
    rho, p = cal.residual_rho(records, "loopback_rtt_us")
    assert rho < -0.9 and p < 0.001
    pct, half, p_trend = cal.trend(records, "loopback_rtt_us")
    assert abs(pct - 40) < half and p_trend < 0.001  # the 40% per hour it was given
    assert cal.calibrated([*records, _record("x", 1, 1e9, 5.0, {"error": "lost"})]) == records


def test_the_report_names_each_cost_and_bad_input_is_one_line_exit_2(tmp_path, capsys):
    path, _ = _run(tmp_path)
    assert cal.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "18 calibrated ok repeats in 3 cases" in out
    assert all(cost in out for cost in cal.COSTS) and "rates x loopback_rtt_us" in out
    assert "memory_us_per_mib      1 distinct value(s): nothing to relate" in out
    (path / "summary.json").write_bytes(b"\xff not utf-8")
    assert cal.main([str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"calibration: {path}: not a results directory" in err[0]


def test_a_smoothed_cost_passes_on_less_of_its_own_noise():
    """The machine slows 40% per hour and every rate follows it exactly, while each calibration
    has noise of its own (±6%): scaled per sample, that noise goes into the rates; the running
    median keeps the drift and leaves most of the noise out."""
    records = []
    for i in range(18):
        system, level = (("go-http", 3000.0), ("tornado", 800.0), ("webpy", 300.0))[i % 3]
        epoch = 1_800_000_000 + i * 200
        true_cost = 14.0 * 1.4 ** (i * 200 / 3600)
        measured = true_cost * math.exp(0.06 if i % 2 else -0.06)
        records.append(
            _record(system, i // 3 + 1, epoch, level * 14.0 / true_cost, {"loopback_rtt_us": measured})
        )
    raw = drift.estimate(records)
    per_sample = drift.estimate(cal.normalized(records, "loopback_rtt_us"))
    smooth = drift.estimate(cal.normalized(cal.smoothed(records, "loopback_rtt_us"), "loopback_rtt_us"))
    assert raw.pct_per_hour is not None and raw.pct_per_hour < -25
    assert smooth.pct_per_hour is not None and abs(smooth.pct_per_hour) < 5
    assert smooth.spread_pct is not None and per_sample.spread_pct is not None
    assert smooth.spread_pct < per_sample.spread_pct / 2


def test_calibrations_taken_beside_a_run_pair_with_the_repeats_after_them(tmp_path):
    path, records = _run(tmp_path)
    bare = [dataclasses.replace(r, calibration=None) for r in records]
    first = stamp_seconds(records[0].started)  # type: ignore[arg-type]
    samples = [
        {"epoch": first - 1, "ok": True, "cpu_loop_ns": 40.0},
        {"epoch": first + 150, "cpu_loop_ns": 50.0},
    ]
    got = cal.paired(bare, samples)
    assert got[0].calibration == {"ok": True, "cpu_loop_ns": 40.0}  # the one before its start
    assert got[-1].calibration == {"cpu_loop_ns": 50.0}
    assert cal.paired(bare, [{"epoch": first + 10**6, "cpu_loop_ns": 1.0}])[0].calibration is None
    bad = tmp_path / "cal.jsonl"
    bad.write_text('{"cpu_loop_ns": 1}\n')
    assert cal.main([str(path), "--samples", str(bad)]) == 2
