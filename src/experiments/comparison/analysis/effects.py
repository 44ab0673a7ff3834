"""The "Effects" section (issue #15): main effects and two-way interactions of a grid of settings.

When the varying keys of a comparison form a full or partial grid with repeated seeds,
:func:`factorial_effects` fits an ANOVA (statsmodels), gives every factor's level means and effects
against a reference level (scipy), the share of variance each term explains, the seeds an unresolved
factor would need, assumption checks with a permutation test beside the ANOVA, identical cells, and
plain findings. The result is an :class:`~experiments.comparison.analysis.effects_results.Effects`; means
and effects are in accuracy points (percent).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from experiments.comparison.analysis.cell_means import cell_means
from experiments.comparison.analysis.distinct import FINGERPRINT, RUN, SOURCE, distinct_networks
from experiments.comparison.analysis.distinct import provenance as run_provenance
from experiments.comparison.analysis.effects_anova import anova_rows, assumption_checks, fit_anova
from experiments.comparison.analysis.effects_findings import findings
from experiments.comparison.analysis.effects_permutation import permutation_check
from experiments.comparison.analysis.effects_results import (
    CellMean,
    Contrast,
    Effects,
    FactorEffects,
    IdenticalCells,
    Interaction,
    LevelEffect,
    MarginalMean,
    SeedsPerCell,
    SimpleEffect,
)
from experiments.comparison.analysis.equivalence import DEFAULT_SESOI
from experiments.comparison.analysis.grouping import LABELS, value_of
from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.records.run_record import RunRecord

CONFIDENCE = 0.95
POINTS = 100.0  # a metric in [0, 1] to accuracy points (a raw metric keeps its unit: metric_kind)
#: Conventional baselines a caller may pass as ``reference`` (the default is the first level in order).
REFERENCES = {"pooling": "max", "activation": "relu", "padding": "zeros"}


def effects_frame(
    runs: Sequence[RunRecord], keys: Sequence[str], metric: str, *, provenance: bool = False
) -> pd.DataFrame:
    """One row per finished run with a value of ``metric``: the keys' values as strings, ``seed``, metric.

    With ``provenance``, also where the run is, the run it copies (``identical_to``) and its config as
    text, by which :mod:`~experiments.comparison.analysis.distinct` finds the copies."""
    rows = []
    for run in runs:
        value = run.metric(metric) if run.ok else None
        if value is None:
            continue
        seed = run.seed if run.seed is not None else _integer(run.override_values.get("seed"))
        row = {**{key: value_of(run, key) for key in keys}, "seed": seed, metric: value}
        if provenance:
            row |= run_provenance(run)
        rows.append(row)
    extra = [RUN, SOURCE, FINGERPRINT] if provenance else []
    return pd.DataFrame(rows, columns=[*keys, "seed", metric, *extra])


def ordered_levels(column: pd.Series) -> list[str]:
    """Levels in sorted order, numerically when every level is a number (``0.5`` before ``10``)."""
    levels = sorted(set(column))
    try:
        return sorted(levels, key=float)
    except ValueError:
        return levels


def summarize(values: np.ndarray, scale: float = POINTS) -> MarginalMean:
    """n, mean and t-interval of the mean, in points (no interval for one run; a point for no spread)."""
    from scipy import stats

    values = np.asarray(values, dtype=float) * scale
    n, mean = len(values), float(np.mean(values))
    low = high = None
    if n >= 2:
        sem = float(stats.sem(values))
        low, high = (mean, mean) if sem == 0 else map(float, stats.t.interval(CONFIDENCE, n - 1, mean, sem))
    return MarginalMean(n, mean, low, high)


def difference(values: np.ndarray, reference: np.ndarray, scale: float = POINTS) -> Contrast:
    """``mean(values) - mean(reference)`` in points with Welch's interval and p (``None`` where undefined)."""
    from scipy import stats

    a, b = np.asarray(values, dtype=float) * scale, np.asarray(reference, dtype=float) * scale
    effect = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return Contrast(effect)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_ind(a, b, equal_var=False)
        low, high = result.confidence_interval(CONFIDENCE)
    return Contrast(effect, float(low), float(high), float(result.pvalue))


def factor_effects(data: pd.DataFrame, factor: str, metric: str, reference: str) -> FactorEffects:
    """Each level's mean (over all its runs) and its effect against the reference level (listed first)."""
    reference_values = data.loc[data[factor] == reference, metric].to_numpy()
    scale = metric_kind(metric).scale
    levels = []
    for level in [reference, *(lv for lv in ordered_levels(data[factor]) if lv != reference)]:
        values = data.loc[data[factor] == level, metric].to_numpy()
        effect = Contrast(0.0) if level == reference else difference(values, reference_values, scale)
        levels.append(LevelEffect.of(level, summarize(values, scale), effect))
    return FactorEffects(reference, levels)


def interaction_effects(data: pd.DataFrame, factor: str, by: str, metric: str, reference: str) -> Interaction:
    """The effect of ``factor`` against its reference within each level of ``by``, and the cell means."""
    effects, cells = [], []
    scale = metric_kind(metric).scale
    for by_level in ordered_levels(data[by]):
        within = data[data[by] == by_level]
        reference_values = within.loc[within[factor] == reference, metric].to_numpy()
        for level in ordered_levels(data[factor]):
            values = within.loc[within[factor] == level, metric].to_numpy()
            if len(values):
                mean = summarize(values, scale)
                cells.append(CellMean(level, by_level, mean.n, mean.mean, mean.ci_low, mean.ci_high))
            if level != reference and len(values) and len(reference_values):
                effects.append(
                    SimpleEffect(by_level, level, len(values), **vars(difference(values, reference_values, scale)))
                )
    return Interaction(factor, by, reference, effects, cells)


def _signature(cell: pd.DataFrame, metric: str) -> tuple[Any, ...]:
    """A cell's runs as (seed, value) pairs; by value alone when a seed is unknown."""
    if cell["seed"].isna().any():
        return tuple(sorted(cell[metric].tolist()))
    return tuple(sorted(zip(cell["seed"].astype(int).tolist(), cell[metric].tolist())))


def identical_cells(data: pd.DataFrame, factors: Sequence[str], metric: str) -> list[IdenticalCells]:
    """Pairs of levels of one factor whose cells (all else equal) give bit-identical runs, seed by seed.

    At least two seeds are asked for: one accuracy of k/N can coincide between two different networks.
    """
    signatures = {
        key if isinstance(key, tuple) else (key,): _signature(cell, metric)
        for key, cell in data.groupby(list(factors))
    }
    found: dict[tuple[str, str, str], IdenticalCells] = {}
    for position, factor in enumerate(factors):
        for first, second in combinations(signatures, 2):
            others_equal = all(first[i] == second[i] for i in range(len(factors)) if i != position)
            runs = signatures[first]
            if others_equal and len(runs) >= 2 and runs == signatures[second]:
                low, high = sorted((first[position], second[position]))
                item = found.setdefault(
                    (factor, low, high), IdenticalCells(factor, [low, high], [], len(runs))
                )
                item.contexts.append({f: first[i] for i, f in enumerate(factors) if i != position})
                item.seeds = min(item.seeds, len(runs))
    return list(found.values())


def _reference(levels: list[str], wanted: str | None, factor: str, notes: list[str]) -> str:
    if wanted is None:
        return levels[0]
    if str(wanted) in levels:
        return str(wanted)
    notes.append(f"The reference `{factor}={wanted}` has no runs; `{factor}={levels[0]}` is used instead.")
    return levels[0]


def factorial_effects(
    frame: pd.DataFrame,
    factors: Sequence[str],
    metric: str,
    *,
    alpha: float = 0.05,
    reference: Mapping[str, str] | None = None,
    resamples: int = 2000,
    random_state: int = 0,
    sesoi: float | None = DEFAULT_SESOI,
) -> Effects | None:
    """The Effects analysis of ``frame`` (one row per ok run); ``None`` without a grid with repeated seeds.

    Copies (:mod:`~experiments.comparison.analysis.distinct`) are left out before anything is computed:
    each distinct network counts once. Each factor is tested where it can act
    (:mod:`~experiments.comparison.analysis.cell_means`); the ANOVA table beside it is the classical one."""
    data = frame.dropna(subset=[metric]).copy()
    if "seed" not in data:
        data["seed"] = np.nan
    data[metric] = data[metric].astype(float)
    notes: list[str] = []
    active = []
    for factor in factors:
        data[factor] = data[factor].astype(str)
        if data[factor].nunique() > 1:
            active.append(factor)
        elif len(data):
            notes.append(f"`{factor}` takes one value only (`{data[factor].iloc[0]}`) and is not analysed.")
    if not active:
        return None
    if sesoi is None:
        notes.append(metric_kind(metric).no_margin())
    identical = identical_cells(data, active, metric)
    networks = distinct_networks(data, active, metric)
    everything, data = data, networks.data
    if data.groupby(active).size().max() < 2:
        return None
    levels = {f: ordered_levels(everything[f]) for f in active}
    references = {f: _reference(levels[f], (reference or {}).get(f), f, notes) for f in active}
    if networks.dropped:
        notes.append(
            f"{networks.dropped} runs are copies of other runs (the same network and seed) and are counted "
            f"once: the statistics use {len(data)} distinct runs of {len(everything)}."
        )
    varying = [f for f in active if data[f].nunique() > 1]  # a factor of copies only keeps one level
    if not varying:  # every level a copy of one network: nothing left to compare
        return None
    safe_names = {f"f{i}": factor for i, factor in enumerate(varying)}
    safe = pd.DataFrame({**{k: data[v] for k, v in safe_names.items()}, "y": data[metric]})
    anova_type, anova, anova_notes = fit_anova(safe, list(safe_names), safe_names)
    notes += anova_notes
    rows = anova_rows(anova, safe_names) if anova else []
    counts = data.groupby(active).size()
    result = Effects(
        metric=metric,
        metric_label=LABELS.get(metric, metric),
        alpha=alpha,
        factors=active,
        runs=len(data),
        cells=len(counts),
        grid_cells=math.prod(len(v) for v in levels.values()),
        seeds_per_cell=SeedsPerCell(int(counts.min()), int(counts.max())),
        anova_type=anova_type,
        anova=rows,
        effects={f: factor_effects(data, f, metric, references[f]) for f in active},
        variance_explained={row.term: row.eta2 for row in rows},
        identical=identical,
        notes=notes,
        copies=networks.copies,
        sesoi=sesoi,
    )
    result.cell_model = cell_means(networks, active, metric, references, levels, sesoi=sesoi, alpha=alpha)
    if anova is not None:
        result.variance_explained["residual"] = float(anova.fit.ssr / anova.fit.centered_tss)
    for row in rows:
        if len(row.factors) == 2 and row.p_adjusted is not None and row.p_adjusted < alpha:
            factor, by = sorted(row.factors, key=lambda f: -result.variance_explained.get(f, 0.0))
            result.interactions[row.term] = interaction_effects(data, factor, by, metric, references[factor])
    if anova is not None:
        result.checks = assumption_checks(anova, safe, list(safe_names))
        if result.checks.doubtful:
            permutation_check(result, safe, anova, safe_names, resamples, random_state)
    result.findings = findings(result)
    return result


def _integer(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
