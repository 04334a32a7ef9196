"""Between two runs: did the machine move, or did a system? (`webbench-lab compare`)

On a shared virtual machine the whole lab gets faster or slower from one hour to the next (the
host's other guests, its caches): every case of run B then differs from run A by about the same
factor, and each case's own test calls that a change. A system that regressed differs from the
rest. So, over every case with at least two ok repeats on each side:

- the common shift is the median of the cases' ratios of mean rates B/A (the median: a few
  systems that really changed do not move it), and the Wilcoxon signed-rank test of their log
  ratios (scipy) says whether the cases moved together at all (p < 0.05);
- each case is then judged against that shift: Welch's t-test of its log rates in B, divided by
  the shift, against A's; `slower than the rest` or `faster than the rest` needs p < 0.05 and a
  ratio to the shift beyond the threshold, else `moved with the rest`.

It needs at least MIN_CASES such cases: with fewer, the shift cannot be told from one system's own
change, and it is unknown (None). The verdicts of the cases themselves are not changed: the shift
says how to read them.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webbench_lab.bench.stats import ALPHA, MIN_REPEATS, welch_p

MIN_CASES = 3
RELATIVE = ("slower than the rest", "faster than the rest", "moved with the rest")


@dataclass(frozen=True)
class Relative:
    """A case's ratio B/A divided by the common shift, and whether it differs from the rest."""

    ratio: float
    p: float
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return {"ratio": round(self.ratio, 4), "p": float(f"{self.p:.4g}"), "verdict": self.verdict}


@dataclass(frozen=True)
class Shift:
    """The common shift B/A of every case and the test that the cases moved together."""

    ratio: float
    p: float
    cases: int
    low: float  # the smallest and largest case ratio
    high: float

    @property
    def significant(self) -> bool:
        return self.p < ALPHA

    def as_dict(self) -> dict[str, Any]:
        return {
            "ratio": round(self.ratio, 4), "p": float(f"{self.p:.4g}"), "cases": self.cases,
            "range": [round(self.low, 4), round(self.high, 4)], "significant": self.significant,
        }  # fmt: skip


def common(pairs: Sequence[tuple[Sequence[float], Sequence[float]]]) -> Shift | None:
    """The common shift of these cases' (A rates, B rates); None with fewer than MIN_CASES cases
    that have MIN_REPEATS positive rates on each side."""
    from scipy import stats

    ratios = [statistics.fmean(b) / statistics.fmean(a) for a, b in pairs if _usable(a) and _usable(b)]
    if len(ratios) < MIN_CASES:
        return None
    logs = [math.log(r) for r in ratios]
    if all(v == 0 for v in logs):
        p = 1.0
    else:
        with warnings.catch_warnings():  # few cases: scipy warns that its p is exact or approximate
            warnings.simplefilter("ignore")
            p = float(stats.wilcoxon(logs).pvalue)
    return Shift(math.exp(statistics.median(logs)), p, len(ratios), min(ratios), max(ratios))


def relative(a: Sequence[float], b: Sequence[float], shift: Shift, threshold_pct: float) -> Relative | None:
    """A case against the common shift (None when it has too few repeats to tell)."""
    if not (_usable(a) and _usable(b)):
        return None
    ratio = statistics.fmean(b) / statistics.fmean(a) / shift.ratio
    p = welch_p([math.log(x) for x in a], [math.log(x) - math.log(shift.ratio) for x in b])
    threshold = threshold_pct / 100
    if p < ALPHA and ratio < 1 - threshold:
        verdict = RELATIVE[0]
    elif p < ALPHA and ratio > 1 + threshold:
        verdict = RELATIVE[1]
    else:
        verdict = RELATIVE[2]
    return Relative(ratio, p, verdict)


def lines(shift: Shift | None, apart: list[tuple[str, Relative]], cases: int) -> list[str]:
    """The shift in words, for compare.md and compare.html."""
    if shift is None:
        return [
            f"Common shift of the machine: unknown ({cases} case(s) compared; it needs {MIN_CASES} with "
            f"{MIN_REPEATS} ok repeats on each side to tell the machine moving from one system changing)."
        ]
    pct = f"{(shift.ratio - 1) * 100:+.1f}%"
    spread = f"the cases' ratios range {shift.low:.3f} to {shift.high:.3f}"
    if shift.significant:
        head = (
            f"Common shift of the machine: the {shift.cases} cases moved together by a median of {pct} "
            f"(B/A {shift.ratio:.3f}; Wilcoxon p {shift.p:.2g}; {spread}): the machine or the lab "
            "changed between the runs, not one system. Read each verdict against it."
        )
    else:
        head = (
            f"Common shift of the machine: none detected (median B/A {shift.ratio:.3f}, {pct}; Wilcoxon "
            f"p {shift.p:.2g} over {shift.cases} cases; {spread})."
        )
    if not apart:
        return [head, "No case moved apart from the rest beyond the threshold."]
    names = "; ".join(
        f"{name}: {rel.verdict} ({(rel.ratio - 1) * 100:+.1f}%, p {rel.p:.2g})" for name, rel in apart
    )
    return [head, f"Cases that moved apart from the rest (their B/A over the common shift): {names}."]


def _usable(rates: Sequence[float]) -> bool:
    return len(rates) >= MIN_REPEATS and all(r > 0 for r in rates)
