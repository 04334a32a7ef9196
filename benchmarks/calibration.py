"""Does the server's calibration move with a run's rates (issue 30, point 0)?

A run with `calibrate` (the suites' default, or `bench --calibrate`) records before each case what
fixed work costs on the server (appctl calibrate, in CPU time): a CPU loop, a memory copy, a
loopback TCP round trip and a loopback connection. If the machine's speed is what makes the rates
fall during a run, the costs rise as the rates fall, and a rate times its case's cost (the rate
at a reference speed) holds still. This prints, for each cost:

- its trend over the run (percent per hour, 95% interval: scipy's linregress of log cost on time);
- Spearman's rho of the repeats' rate residuals (log rate minus the case's mean) with the log cost;
- the rates' drift and spread (bench/drift.py) as measured, and after each rate is multiplied by
  its cost relative to the run's median cost (an exponent of 1 fixed in advance, nothing fitted,
  so nothing to overfit): a cost that is the machine's speed takes the drift out of the rates;
- the same with the cost smoothed over time (the running median of SMOOTH calibrations around
  each repeat's, in time order): one calibration carries several percent of noise of its own,
  which a reference should not pass on to every figure.

    .venv/bin/python benchmarks/calibration.py results/<run> [results/<run> ...]
    # a run without the runner's calibration, with `appctl calibrate` run beside it into a file
    # of JSON lines, each with its "epoch": each repeat gets the last one before its start
    .venv/bin/python benchmarks/calibration.py results/<run> --samples cal.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.kernel_state import residuals
from webbench_lab.bench import drift
from webbench_lab.bench.record import CaseRecord, stamp_seconds
from webbench_lab.bench.results import read_summary
from webbench_lab.errors import UserError

COSTS = ("cpu_loop_ns", "memory_us_per_mib", "loopback_rtt_us", "loopback_connect_us")
SMOOTH = 9  # calibrations in the running median


def paired(records: list[CaseRecord], samples: list[dict[str, Any]]) -> list[CaseRecord]:
    """Each record with the last sample before its start as its calibration (none before the
    first sample): for a run whose calibrations were taken beside it, not by the runner."""
    ordered = sorted(samples, key=lambda s: float(s["epoch"]))
    out = []
    for r in records:
        if not r.started:
            out.append(r)
            continue
        start = stamp_seconds(r.started)
        before = [s for s in ordered if float(s["epoch"]) <= start]
        calibration = {k: v for k, v in before[-1].items() if k != "epoch"} if before else None
        out.append(dataclasses.replace(r, calibration=calibration))
    return out


def smoothed(records: list[CaseRecord], cost: str, window: int = SMOOTH) -> list[CaseRecord]:
    """The records with `cost` replaced by its running median over `window` calibrations in time
    order (fewer at the ends)."""
    order = sorted(range(len(records)), key=lambda i: stamp_seconds(records[i].started))  # type: ignore[arg-type]
    values = [float(records[i].calibration[cost]) for i in order]  # type: ignore[index]
    half = window // 2
    out = list(records)
    for pos, i in enumerate(order):
        median = statistics.median(values[max(0, pos - half) : pos + half + 1])
        out[i] = dataclasses.replace(records[i], calibration={**records[i].calibration, cost: median})  # type: ignore[dict-item]
    return out


def calibrated(records: list[CaseRecord]) -> list[CaseRecord]:
    """The ok repeats with a rate, a start time and a calibration without error."""
    return [
        r for r in records if r.ok and r.rate and r.started and r.calibration and "error" not in r.calibration
    ]


def normalized(records: list[CaseRecord], cost: str) -> list[CaseRecord]:
    """Each rate times its calibration's `cost` over the run's median cost: the rate the case
    would have had at the run's median speed, if the rate is inversely proportional to the cost."""
    median = statistics.median(float(r.calibration[cost]) for r in records)  # type: ignore[index]
    out = []
    for r in records:
        factor = float(r.calibration[cost]) / median  # type: ignore[index]
        figures = dataclasses.replace(r.figures, rate=r.rate * factor)  # type: ignore[arg-type,operator]
        out.append(dataclasses.replace(r, figures=figures))
    return out


def trend(records: list[CaseRecord], cost: str) -> tuple[float, float, float]:
    """The cost's change per hour in percent, with its 95% interval's half-width, and p."""
    from scipy import stats as sps

    hours = [stamp_seconds(r.started) / 3600 for r in records]  # type: ignore[arg-type]
    logs = [math.log(float(r.calibration[cost])) for r in records]  # type: ignore[index]
    fit = sps.linregress(hours, logs)
    t = sps.t.ppf(0.975, len(hours) - 2)
    pct = 100 * math.expm1(fit.slope)
    half = 100 * (math.expm1(fit.slope + t * fit.stderr) - math.expm1(fit.slope - t * fit.stderr)) / 2
    return pct, half, float(fit.pvalue)


def _case(r: CaseRecord) -> tuple[str, int, str]:
    return (r.system, r.level, r.scenario)


def residual_rho(records: list[CaseRecord], cost: str) -> tuple[float, float]:
    """Spearman's rho (and p) of each repeat's log rate minus its case's mean with its log cost."""
    from scipy import stats as sps

    ys_all = residuals([(_case(r), float(r.rate)) for r in records])  # type: ignore[arg-type]
    pairs = [(r, y) for r, y in zip(records, ys_all, strict=True) if y is not None]
    xs = [math.log(float(r.calibration[cost])) for r, _ in pairs]  # type: ignore[index]
    ys = [y for _, y in pairs]
    rho, p = sps.spearmanr(xs, ys)
    return float(rho), float(p)


def _drift_line(label: str, d: drift.Drift) -> str:
    if d.pct_per_hour is None:
        return f"  {label:34} drift unknown ({d.repeats} repeats)"
    lo, hi = d.ci_pct or (math.nan, math.nan)
    return (
        f"  {label:34} drift {d.pct_per_hour:+6.1f}%/h ({lo:+.1f} to {hi:+.1f}, p {d.p:.2g}); spread "
        f"{d.spread_pct:.1f}% around the case means, {d.spread_trend_pct:.1f}% around the trend"
    )


def report(run: Path, samples: list[dict[str, Any]] | None = None) -> list[str]:
    records = read_summary(run)
    if samples is not None:
        records = paired(records, samples)
    records = calibrated(records)
    if len(records) < 5:
        return [f"{run}: {len(records)} calibrated ok repeats: too few (a run with `calibrate`?)"]
    lines = [f"{run}: {len(records)} calibrated ok repeats in {len({_case(r) for r in records})} cases"]
    lines.append(_drift_line("rates as measured", drift.estimate(records)))
    for cost in COSTS:
        values = [float(r.calibration[cost]) for r in records]  # type: ignore[index]
        if len(set(values)) < 3:
            lines.append(f"{cost:22} {len(set(values))} distinct value(s): nothing to relate")
            continue
        pct, half, p = trend(records, cost)
        rho, rho_p = residual_rho(records, cost)
        lines.append(
            f"{cost:22} median {statistics.median(values):9.2f}  {min(values):g}..{max(values):g}  "
            f"trend {pct:+6.1f}%/h (±{half:.1f}, p {p:.2g})  rho(rate residual) {rho:+.2f} (p {rho_p:.2g})"
        )
        lines.append(_drift_line(f"rates x {cost}", drift.estimate(normalized(records, cost))))
        smooth = normalized(smoothed(records, cost), cost)
        lines.append(_drift_line(f"rates x {cost}, smoothed", drift.estimate(smooth)))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="results directories (with summary.json)")
    parser.add_argument("--samples", type=Path, help="calibrations taken beside the run (JSON lines)")
    args = parser.parse_args(argv)
    samples = None
    if args.samples:
        try:
            text = args.samples.read_text(encoding="utf-8")
            samples = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not all(isinstance(s, dict) and "epoch" in s for s in samples):
                raise ValueError("a line without its epoch")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"calibration: {args.samples}: cannot read calibrations ({exc}); give JSON lines "
                  "of appctl calibrate, each with its epoch", file=sys.stderr)  # fmt: skip
            return 2
    for run in args.runs:
        try:
            lines = report(run, samples)
        except (OSError, UnicodeDecodeError, ValueError, UserError) as exc:
            print(
                f"calibration: {run}: not a results directory ({exc}); give a run's folder", file=sys.stderr
            )
            return 2
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
