"""A smallest effect of interest (SESOI, in accuracy points): verdicts and the seeds sized for it a priori.

A difference is ``differs`` when its 95% interval excludes 0, ``equivalent`` (within ±SESOI) when two
one-sided tests against -SESOI and +SESOI both reject (TOST, p < alpha), else ``unresolved``; an
unresolved one says how many seeds per cell would resolve it, sized before looking at the observed
difference: for the SESOI and the pooled within-cell seed SD (statsmodels' ``TTestIndPower``), never
from the observed effect (post-hoc power restates p).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

#: The default smallest effect of interest, in accuracy points (``compare.sesoi``).
DEFAULT_SESOI = 0.5
#: The power a seed count is sized for.
POWER_TARGET = 0.8
DIFFERS, EQUIVALENT, UNRESOLVED = "differs", "equivalent", "unresolved"


@dataclass
class Verdict:
    """What an estimated difference says at the SESOI, with the numbers behind it."""

    verdict: str  # differs, equivalent, unresolved
    sesoi: float | None  # None: no margin for the metric's unit (metric_kind), so never equivalent
    p_tost: float | None  # the larger of the two one-sided p-values
    seeds_per_cell: int | None = None  # a priori, for unresolved ones: seeds per cell to resolve it

    def words(self) -> str:
        if self.verdict == EQUIVALENT:
            return f"equivalent within ±{self.sesoi:g}"
        return self.verdict


def tost(estimate: float, se: float, df: float, sesoi: float) -> float | None:
    """TOST p of a difference with standard error ``se`` and ``df`` degrees of freedom (scipy's t)."""
    from scipy import stats

    if not (se > 0 and df > 0 and math.isfinite(se)):
        return None
    lower = float(stats.t.sf((estimate + sesoi) / se, df))  # H0: difference <= -sesoi
    upper = float(stats.t.cdf((estimate - sesoi) / se, df))  # H0: difference >= +sesoi
    return max(lower, upper)


def seeds_for_sesoi(sd: float, sesoi: float, combinations: int = 1, alpha: float = 0.05) -> int | None:
    """Seeds per cell for 80% power to detect a difference of ``sesoi`` between two cells' means
    (statsmodels' ``TTestIndPower``), with the seed SD ``sd``; a main effect averaged over
    ``combinations`` pairs of cells has ``combinations`` times the runs per side."""
    from statsmodels.stats.power import TTestIndPower

    if not (sd > 0 and math.isfinite(sd)):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            per_side = float(TTestIndPower().solve_power(sesoi / sd, alpha=alpha, power=POWER_TARGET))
        except (ValueError, RuntimeError, ZeroDivisionError):
            return None
    if not math.isfinite(per_side):
        return None
    return max(2, math.ceil(per_side / max(combinations, 1)))


def verdict(
    estimate: float,
    low: float | None,
    high: float | None,
    se: float | None,
    df: float | None,
    sesoi: float | None,
    *,
    sd: float | None = None,
    combinations: int = 1,
    alpha: float = 0.05,
) -> Verdict:
    """The verdict of a difference in points, its interval, and (for TOST) its standard error and df;
    without a ``sesoi`` (a raw-unit metric) only ``differs`` or ``unresolved``, no seeds sized."""
    p = tost(estimate, se, df, sesoi) if se is not None and df is not None and sesoi is not None else None
    if low is not None and high is not None and (low > 0 or high < 0):
        return Verdict(DIFFERS, sesoi, p)
    if p is not None and p < alpha:
        return Verdict(EQUIVALENT, sesoi, p)
    seeds = seeds_for_sesoi(sd, sesoi, combinations, alpha) if sd is not None and sesoi is not None else None
    return Verdict(UNRESOLVED, sesoi, p, seeds)


def welch_verdict(a: list[float], b: list[float], sesoi: float, alpha: float = 0.05) -> Verdict:
    """The verdict of ``mean(a) - mean(b)`` (points) from Welch's interval and statsmodels' ``ttost_ind``."""
    import numpy as np
    from scipy import stats
    from statsmodels.stats.weightstats import ttost_ind

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Verdict(UNRESOLVED, sesoi, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        interval = stats.ttest_ind(x, y, equal_var=False).confidence_interval(0.95)
        p = float(ttost_ind(x, y, -sesoi, sesoi, usevar="unequal")[0])
    low, high = float(interval.low), float(interval.high)
    if low > 0 or high < 0:
        return Verdict(DIFFERS, sesoi, p)
    if p < alpha:
        return Verdict(EQUIVALENT, sesoi, p)
    sd = math.sqrt((np.var(x, ddof=1) + np.var(y, ddof=1)) / 2)
    return Verdict(UNRESOLVED, sesoi, p, seeds_for_sesoi(sd, sesoi, 1, alpha))
