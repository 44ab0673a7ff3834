"""Statistics over seeds: mean, standard deviation, t-interval, Welch's test or a bootstrap, Holm's correction.

With three seeds the interval is wide and a test has little power; the report says so instead of
ranking groups by a difference that another seed could reverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class SeedStats:
    """Group statistics of one metric over seeds: mean, sample standard deviation, two-sided t-interval."""

    n: int
    mean: float
    std: float  # ddof=1; nan for n < 2
    low: float  # confidence interval; nan for n < 2
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def seed_stats(values: Sequence[float], confidence: float = 0.95) -> SeedStats | None:
    """The group statistics of ``values`` (one per seed); ``None`` when none is a finite number."""
    import numpy as np
    from scipy import stats

    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    n, mean = len(values), float(np.mean(values))
    if n < 2:
        return SeedStats(n, mean, math.nan, math.nan, math.nan)
    std = float(np.std(values, ddof=1))
    if std == 0:  # scipy's interval of a zero scale is nan; a sample without spread has a point interval
        return SeedStats(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(values))
    return SeedStats(n, mean, std, float(low), float(high))


@dataclass
class Comparison:
    """A group against the best group on the primary metric."""

    diff: float  # group mean - best mean
    low: float  # confidence interval of the difference (Welch); nan where it cannot be computed
    high: float
    p: float  # two-sided p-value; nan where it cannot be computed
    p_adjusted: float  # Holm-adjusted over all comparisons with the best
    test: str
    distinguishable: bool | None  # None: too few runs to test


def welch(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """Welch's t-test of ``mean(a) - mean(b)`` (scipy): (difference, CI low, CI high, two-sided p)."""
    import numpy as np
    from scipy import stats

    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a_arr.mean() - b_arr.mean())
    if len(a_arr) < 2 or len(b_arr) < 2:
        return diff, math.nan, math.nan, math.nan
    if a_arr.var() == 0 and b_arr.var() == 0:
        # scipy gives nan without spread; identical means cannot be told apart, different ones trivially can
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    result = stats.ttest_ind(a_arr, b_arr, equal_var=False)
    interval = result.confidence_interval(confidence)
    return diff, float(interval.low), float(interval.high), float(result.pvalue)


def bootstrap(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float, float]:
    """Percentile bootstrap of ``mean(a) - mean(b)`` (``scipy.stats.bootstrap``, each sample resampled on
    its own) and a two-sided p-value from the resampled signs (scipy gives no p-value for a bootstrap)."""
    import numpy as np
    from scipy import stats

    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a_arr.mean() - b_arr.mean())
    if len(a_arr) < 2 or len(b_arr) < 2:
        return diff, math.nan, math.nan, math.nan

    def mean_diff(x: Any, y: Any, axis: int = -1) -> Any:
        return np.mean(x, axis=axis) - np.mean(y, axis=axis)

    result = stats.bootstrap(
        (a_arr, b_arr),
        mean_diff,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    diffs = result.bootstrap_distribution
    p = 1.0 if diff == 0 else float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    return diff, float(result.confidence_interval.low), float(result.confidence_interval.high), p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (statsmodels' ``multipletests``; nan stays nan)."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    adjusted = [math.nan] * len(pvalues)
    if tested:
        corrected = multipletests([pvalues[i] for i in tested], method="holm")[1]
        for i, p in zip(tested, corrected):
            adjusted[i] = float(p)
    return adjusted
