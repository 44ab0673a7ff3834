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
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return SeedStats(n, mean, math.nan, math.nan, math.nan)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return SeedStats(n, mean, std, mean - half, mean + half)


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
    """Welch's t-test of ``mean(a) - mean(b)``: (difference, CI low, CI high, two-sided p)."""
    from scipy import stats

    a, b = [float(v) for v in a], [float(v) for v in b]
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    diff = ma - mb
    if na < 2 or nb < 2:
        return diff, math.nan, math.nan, math.nan
    va = sum((v - ma) ** 2 for v in a) / (na - 1)
    vb = sum((v - mb) ** 2 for v in b) / (nb - 1)
    se2 = va / na + vb / nb
    if se2 == 0:
        # no spread in either group: identical means cannot be told apart, different ones trivially can
        return diff, diff, diff, (1.0 if diff == 0 else 0.0)
    se = math.sqrt(se2)
    dof = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), dof))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * se
    return diff, diff - half, diff + half, p


def bootstrap(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float, float]:
    """Percentile bootstrap of ``mean(a) - mean(b)`` and a two-sided p-value from the resampled signs."""
    import numpy as np

    a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a_arr.mean() - b_arr.mean())
    if len(a_arr) < 2 or len(b_arr) < 2:
        return diff, math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    da = rng.choice(a_arr, (resamples, len(a_arr))).mean(axis=1)
    db = rng.choice(b_arr, (resamples, len(b_arr))).mean(axis=1)
    diffs = da - db
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    if diff == 0:
        p = 1.0
    else:
        p = float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    return diff, float(low), float(high), p


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (nan stays nan)."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    m = len(indexed)
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
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
    """Group runs by the varying keys (or ``group_by``); statistics per group, each tested against the best."""
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
