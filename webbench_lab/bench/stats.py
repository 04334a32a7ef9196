"""The statistics of a figure measured more than once: mean, 95% confidence interval of the mean,
relative standard deviation and n, from scipy and numpy (no hand-written formulas).

The interval is Student's t, not the normal one: a case has 3 to 6 repeats, and with so few values
the sample standard deviation is itself uncertain; t with n - 1 degrees of freedom accounts for
that (t(0.975, 2) = 4.30 where the normal quantile is 1.96), so the interval is honest at n = 3.
It assumes the repeats are independent draws around one mean, which interleaving the repeats (every
case once, then again) makes closer to true.

`summarize(values)` gives a figure's statistics (bench/report.py, bench/results.py and the runner's
adaptive repeats use it); `welch_p` and `fieller_ci` compare two figures (compare, drift, shift, and
the report's ratios to Go http and to Gin). With one value the interval and the spread are
unknown (None), never 0; with a mean of 0 the relative figures are unknown too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

CONFIDENCE = 0.95
ALPHA = 0.05  # the significance level of every test of a difference (compare, drift, shift)
MIN_REPEATS = 2  # per side, for a t-test and an interval: one value has no variance


@dataclass(frozen=True)
class Stat:
    """A figure over its repeats: `ci95` is the half-width of the 95% interval of the mean (the
    mean is within mean ± ci95), `ci95_pct` and `rsd_pct` are relative to the mean (percent)."""

    mean: float | None
    ci95: float | None
    ci95_pct: float | None
    rsd_pct: float | None
    n: int

    def as_dict(self, prefix: str = "", digits: int = 3) -> dict[str, Any]:
        """{prefix + field: value}, rounded (`n` stays an int), for the summary's flat rows."""
        return {
            f"{prefix}{k}": v if v is None or k == "n" else round(float(v), digits)
            for k, v in asdict(self).items()
        }

    def stable(self, target_pct: float) -> bool:
        """The interval is known and no wider than ± target_pct of the mean (identical values are
        stable whatever their mean)."""
        if self.ci95 is None:
            return False
        if self.ci95 == 0:
            return True
        return self.ci95_pct is not None and self.ci95_pct <= target_pct


def summarize(values: Iterable[float]) -> Stat:
    """Mean, 95% CI half-width (Student t, n - 1 degrees of freedom), RSD (sample standard deviation,
    ddof=1, over the mean) and n of `values` (None values are left out by the caller)."""
    # Here, not at the top: the command line imports nothing heavy before a command runs.
    import numpy as np
    from scipy import stats as sps

    data = np.asarray(list(values), dtype=float)
    n = int(data.size)
    if n == 0:
        return Stat(None, None, None, None, 0)
    mean = float(np.mean(data))
    if n == 1:
        return Stat(mean, None, None, None, 1)
    sem = float(sps.sem(data))  # ddof=1
    half = float(sps.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * sem)
    sd = float(np.std(data, ddof=1))
    if mean == 0:
        return Stat(mean, half, None, None, n)
    return Stat(mean, half, 100.0 * half / abs(mean), 100.0 * sd / abs(mean), n)


def needs_more(stat: Stat, repeats: int, min_repeats: int, max_repeats: int, target_pct: float) -> bool:
    """Adaptive repeats: whether a case that ran `repeats` times (every one ok, `stat` over them)
    gets another: only from `min_repeats` on, never past `max_repeats`, and only while its 95%
    interval is unknown or wider than ± target_pct of the mean."""
    if repeats < min_repeats or repeats >= max_repeats:
        return False
    return not stat.stable(target_pct)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Welch's t-test (two-sided) of the means; two constant samples: 1 when equal, else 0 (the
    statistic is infinite), which scipy would give as nan."""
    import numpy as np
    from scipy import stats as sps

    if np.var(a) == 0 and np.var(b) == 0:
        return 1.0 if np.mean(a) == np.mean(b) else 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nearly identical values: precision note
        return float(sps.ttest_ind(b, a, equal_var=False).pvalue)


def fieller_ci(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The confidence interval of mean(b)/mean(a) by Fieller's theorem (E. C. Fieller, J. R. Stat.
    Soc. B 16 (1954) 175-185): the r for which mean(b) - r·mean(a) is not significantly different
    from 0, a quadratic in r, with Student's t at the Welch-Satterthwaite degrees of freedom of that
    difference evaluated at r = mean(b)/mean(a). Independent samples of 2 values or more each.
    None when the interval is unbounded (mean(a) not significantly different from 0)."""
    import numpy as np
    from scipy import stats as sps

    ma, mb = float(np.mean(a)), float(np.mean(b))
    va = float(np.var(a, ddof=1)) / len(a)  # squared standard errors of the means
    vb = float(np.var(b, ddof=1)) / len(b)
    if ma == 0:
        return None
    r = mb / ma
    df_den = vb**2 / (len(b) - 1) + r**4 * va**2 / (len(a) - 1)
    if df_den == 0:  # no variance at all: the ratio is what it is
        return (r, r)
    df = (vb + r**2 * va) ** 2 / df_den
    t = float(sps.t.ppf(1 - (1 - confidence) / 2, df))
    qa = ma**2 - t**2 * va
    if qa <= 0:
        return None
    half = t * math.sqrt(vb * qa + mb**2 * va)  # the square root of the quadratic's discriminant / 2
    return ((ma * mb - half) / qa, (ma * mb + half) / qa)
