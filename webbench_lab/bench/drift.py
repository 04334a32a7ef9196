"""How far the machine drifted during a run, from the run's own repeats (no extra measurement).

The rounds are interleaved (every case once, then every case again), so every case is measured at
several times spread over the run. If the machine slows down (other guests of the host, its
caches, its clock), every case slows with it. One model fits that: the log of each repeat's rate
is its case's own level plus one common slope times the hour it started,

    log(rate_ij) = a_i + b * t_ij + e_ij

by least squares (numpy), with the slope's 95% interval and p-value from Student's t at
N - (cases + 1) degrees of freedom (scipy). On the log scale the slope is a relative change:
exp(b) - 1 is the drift per hour, the same share of every case's rate.

It also says how much of the repeats' spread the drift explains: the residual spread around each
case's own mean (the model without the slope) and around the trend (with it). A case's interval
includes the drift: that is why it is reported beside the figures, not subtracted from them.

Only ok repeats with a rate and a start time count, and only cases with at least two of them
(one repeat says nothing about its case's trend). With too few, the drift is unknown (None).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from webbench_lab.bench.record import CaseRecord, stamp_seconds
from webbench_lab.bench.stats import ALPHA, CONFIDENCE


@dataclass(frozen=True)
class Drift:
    """The common trend of every case's rate over the run: `pct_per_hour` (and its 95% interval
    `ci_pct`) is the change of the rates per hour, in percent; `p` tells whether it is real
    (None when it cannot be computed: too few repeats)."""

    cases: int  # cases with >= 2 timed ok repeats
    repeats: int  # their repeats
    span_h: float  # from the first of them to start to the last
    pct_per_hour: float | None = None
    ci_pct: tuple[float, float] | None = None
    p: float | None = None
    spread_pct: float | None = None  # residual spread around each case's mean (log scale, ~%)
    spread_trend_pct: float | None = None  # around the trend

    @property
    def known(self) -> bool:
        return self.pct_per_hour is not None

    @property
    def significant(self) -> bool | None:
        return None if self.p is None else self.p < ALPHA

    @property
    def over_run_pct(self) -> float | None:
        """The drift from the run's first repeat to its last, in percent of the first."""
        if self.pct_per_hour is None:
            return None
        return 100.0 * ((1 + self.pct_per_hour / 100) ** self.span_h - 1)

    def as_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)

        return {
            "cases": self.cases, "repeats": self.repeats, "span_h": round(self.span_h, 3),
            "pct_per_hour": r(self.pct_per_hour),
            "ci_pct": [r(x) for x in self.ci_pct] if self.ci_pct else None,
            "p": None if self.p is None else float(f"{self.p:.3g}"),
            "over_run_pct": r(self.over_run_pct), "spread_pct": r(self.spread_pct),
            "spread_trend_pct": r(self.spread_trend_pct),
        }  # fmt: skip

    def line(self) -> str:
        """The drift in words, for the report beside the figures."""
        if not self.cases:
            return "Drift of the machine over the run: unknown (no case has two timed ok repeats)."
        if not self.known:
            return (
                f"Drift of the machine over the run: unknown ({self.cases} case(s) with two or more "
                f"timed repeats, {self.repeats} repeats: the trend needs more repeats than cases + 1)."
            )
        assert self.ci_pct is not None and self.p is not None and self.pct_per_hour is not None
        lo, hi = self.ci_pct
        fit = (
            f"one trend fitted to {self.repeats} repeats of {self.cases} cases over "
            f"{self.span_h * 60:.0f} min, each case its own level; 95% CI {lo:+.1f}% to {hi:+.1f}% "
            f"per hour, p {self.p:.2g}"
        )
        spread = (
            f" The repeats spread {self.spread_pct:.1f}% around their case's mean and "
            f"{self.spread_trend_pct:.1f}% around the trend."
            if self.spread_pct is not None and self.spread_trend_pct is not None
            else ""
        )
        if not self.significant:
            return (
                f"Drift of the machine over the run: none detected ({self.pct_per_hour:+.1f}% per "
                f"hour; {fit}).{spread}"
            )
        way = "fell" if self.pct_per_hour < 0 else "rose"
        return (
            f"Drift of the machine over the run: the rates {way} by {abs(self.pct_per_hour):.1f}% "
            f"per hour ({self.over_run_pct:+.1f}% from the first repeat to the last; {fit}). The "
            f"rounds interleave, so the drift widens every case's interval rather than favouring "
            f"one system; a comparison with another run sees it too.{spread}"
        )


def estimate(records: Iterable[CaseRecord]) -> Drift:
    # Here, not at the top: the command line imports nothing heavy before a command runs.
    import numpy as np
    from scipy import stats as sps

    groups: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    for r in records:
        when = _epoch(r.started)
        rate = r.rate
        if r.ok and rate is not None and rate > 0 and when is not None:
            groups.setdefault((r.system, r.level, r.scenario), []).append((when, math.log(rate)))
    kept = [points for points in groups.values() if len(points) >= 2]
    n = sum(len(p) for p in kept)
    if not kept:
        return Drift(0, 0, 0.0)
    t0 = min(t for points in kept for t, _ in points)
    span_h = (max(t for points in kept for t, _ in points) - t0) / 3600
    unknown = Drift(len(kept), n, span_h)
    dof = n - len(kept) - 1
    if dof < 1 or span_h <= 0:
        return unknown
    x = np.zeros((n, len(kept) + 1))
    y = np.zeros(n)
    row = 0
    for i, points in enumerate(kept):
        for t, value in points:
            x[row, i] = 1.0
            x[row, -1] = (t - t0) / 3600
            y[row] = value
            row += 1
    coef, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    if rank < x.shape[1]:  # every case's repeats at the same moment: no trend to tell
        return unknown
    residuals = y - x @ coef
    s2 = float(residuals @ residuals) / dof
    se = math.sqrt(s2 * float(np.linalg.inv(x.T @ x)[-1, -1]))
    slope = float(coef[-1])
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, dof)) * se
    p = 1.0 if se == 0 and slope == 0 else 0.0 if se == 0 else float(2 * sps.t.sf(abs(slope) / se, dof))
    # Around each case's own mean (no slope): the spread the intervals see.
    centred = np.concatenate([np.array([v for _, v in pts]) - np.mean([v for _, v in pts]) for pts in kept])
    spread = math.sqrt(float(centred @ centred) / (n - len(kept)))

    def pct(b: float) -> float:
        return 100.0 * math.expm1(b)

    return Drift(
        len(kept), n, span_h, pct(slope), (pct(slope - half), pct(slope + half)), p,
        100.0 * spread, 100.0 * math.sqrt(s2),
    )  # fmt: skip


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return stamp_seconds(stamp)
    except ValueError:  # not a time the runner wrote: this repeat is left out
        return None
