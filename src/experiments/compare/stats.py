"""Grouping and statistics over seeds: mean, standard deviation, t-interval, Welch's test against the best.

With three seeds the interval is wide and a test has little power; the report says so instead of
ranking groups by a difference that another seed could reverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from experiments.compare.runs import Run

#: Override keys that identify a job but are not part of the design being compared.
IGNORED_KEYS = ("seed", "logger", "hydra", "paths", "tags", "trainer.devices", "trainer.accelerator")
#: Final metrics with group statistics over seeds (``val/acc_best``: validation accuracy at its best epoch).
METRICS = ("test/acc", "test/f1_macro", "val/acc_best")
LABELS = {
    "test/acc": "test acc",
    "test/f1_macro": "test F1 (macro)",
    "val/acc_best": "best val acc",
    "val/acc": "val acc",
    "test/acc_top5": "test top-5",
    "test/loss": "test loss",
}


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


@dataclass
class Group:
    """Runs that share every varying setting except the seed."""

    key: tuple[tuple[str, str], ...]
    runs: list[Run]
    stats: dict[str, SeedStats | None] = field(default_factory=dict)
    comparison: Comparison | None = None
    is_best: bool = False

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.key) or "all runs"

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def values(self, metric: str) -> list[float]:
        return [v for v in (r.metric(metric) for r in self.ok_runs) if v is not None]

    def attribute(self, name: str) -> SeedStats | None:
        return seed_stats([getattr(r, name) for r in self.ok_runs if getattr(r, name) is not None])

    def first(self, name: str) -> Any:
        found = {getattr(r, name) for r in self.ok_runs if getattr(r, name) is not None}
        return found.pop() if len(found) == 1 else None

    def best_run(self, metric: str) -> Run | None:
        scored = [r for r in self.ok_runs if r.metric(metric) is not None]
        return max(scored, key=lambda r: r.metric(metric)) if scored else None


def _ignored(key: str, ignore: Sequence[str]) -> bool:
    return any(key == i or key.startswith(i + ".") for i in ignore)


def varying_keys(runs: Sequence[Run], ignore: Sequence[str] = IGNORED_KEYS) -> list[str]:
    """Override keys whose value differs between runs (a key some runs lack counts as different)."""
    order: list[str] = []
    for run in runs:
        order += [k for k in run.overrides if k not in order]
    keys = []
    for key in order:
        if _ignored(key, ignore):
            continue
        if len({value_of(r, key) for r in runs}) > 1:
            keys.append(key)
    return keys


def value_of(run: Run, key: str) -> str:
    """The run's value of an override key; a run without that override shows its configured value."""
    if key in run.overrides:
        return run.overrides[key]
    if key in run.choices:  # a config group left at its default: the option Hydra chose
        return run.choices[key]
    configured = run.config_value(key)
    if isinstance(configured, dict):  # a config group left at its default: name it if it says its name
        for name_key in ("name", "type"):
            if isinstance(configured.get(name_key), str | int | float):
                return str(configured[name_key])
        return "default"
    return "default" if configured is None else str(configured)


def group_runs(
    runs: Sequence[Run],
    group_by: Sequence[str] | None = None,
    ignore: Sequence[str] = IGNORED_KEYS,
    metric: str = "test/acc",
    test: str = "welch",
    alpha: float = 0.05,
) -> tuple[list[str], list[Group]]:
    """Group runs by the varying keys (or ``group_by``); statistics per group, each tested against the best.

    A run that did not finish and says nothing about its settings (an unreadable ``results.json`` without
    ``.hydra/``) belongs to no group; the report lists it with the runs that did not finish."""
    runs = [r for r in runs if r.ok or r.overrides or r.choices or r.config]
    keys = list(group_by) if group_by else varying_keys(runs, ignore)
    groups: dict[tuple[tuple[str, str], ...], Group] = {}
    for run in runs:
        key = tuple((k, value_of(run, k)) for k in keys)
        groups.setdefault(key, Group(key, []))
        groups[key].runs.append(run)
    ordered = list(groups.values())
    for group in ordered:
        group.stats = {m: seed_stats(group.values(m)) for m in dict.fromkeys((metric, *METRICS))}
    scored = [g for g in ordered if g.stats.get(metric)]
    if scored:
        best = max(scored, key=lambda g: g.stats[metric].mean)  # type: ignore[union-attr]
        best.is_best = True
        compare_with_best(scored, best, metric, test, alpha)
    return keys, ordered


def compare_with_best(groups: Sequence[Group], best: Group, metric: str, test: str, alpha: float) -> None:
    best_values = best.values(metric)
    others = [g for g in groups if g is not best]
    raw = []
    for group in others:
        values = group.values(metric)
        if test == "bootstrap":
            raw.append(bootstrap(values, best_values))
        else:
            raw.append(welch(values, best_values))
    adjusted = holm([r[3] for r in raw])
    for group, (diff, low, high, p), p_adj in zip(others, raw, adjusted):
        testable = not math.isnan(p)
        group.comparison = Comparison(
            diff=diff,
            low=low,
            high=high,
            p=p,
            p_adjusted=p_adj,
            test=test,
            distinguishable=(p_adj < alpha) if testable else None,
        )
