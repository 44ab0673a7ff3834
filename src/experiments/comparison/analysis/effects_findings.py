"""The "Effects" section in words: plain findings, only where the statistics support them.

Works on the :class:`~experiments.comparison.analysis.effects_results.Effects` of
:func:`experiments.comparison.analysis.effects.factorial_effects`; the section's tables and Markdown are
the writers' (:mod:`experiments.comparison.writers.effects_section`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from experiments.comparison.analysis.cell_means import FactorTest, LevelContrast
from experiments.comparison.analysis.cell_means import seeds_text as seeds_needed_text
from experiments.comparison.analysis.effects_results import AnovaRow, Effects, IdenticalCells
from experiments.comparison.analysis.equivalence import DIFFERS, EQUIVALENT
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind

#: What the wording of an accuracy assumes: higher is better, in points.
ACCURACY = metric_kind("test/acc")


def _p(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2g}"


def interval(low: float | None, high: float | None, kind: MetricKind = ACCURACY) -> str:
    return "" if low is None or high is None else f" [{kind.number(low)}, {kind.number(high)}]"


def change(effect: float, low: float | None, high: float | None, kind: MetricKind = ACCURACY) -> str:
    """``costs 7.20 points [5.90, 8.50]`` for a loss, ``adds 1.10 points [0.20, 2.00]`` for a gain; where
    lower is better, what it does to the metric: ``raises probe/gap_acc by 1.20 points [0.40, 2.00]
    (lower is better)`` (``adds`` would read as a gain)."""
    if kind.higher_is_better:
        verbs = ("costs ", "adds ")
    else:
        verbs = (f"lowers {kind.label} by ", f"raises {kind.label} by ")
    if effect < 0:
        said = verbs[0] + kind.amount(-effect) + interval(
            None if high is None else -high, None if low is None else -low, kind
        )
    else:
        said = verbs[1] + kind.amount(effect) + interval(low, high, kind)
    return said + kind.direction


def seeds_text(result: Effects) -> str:
    seeds = result.seeds_per_cell
    return str(seeds.min) if seeds.min == seeds.max else f"{seeds.min}-{seeds.max}"


def _stat(row: AnovaRow) -> str:
    permutation = f", permutation p = {_p(row.p_permutation)}" if row.p_permutation is not None else ""
    return f"F({row.df:.0f}, {row.df_residual:.0f}) = {row.F:.2f}, Holm-adjusted p = {_p(row.p_adjusted)}{permutation}"


def _context(contexts: Sequence[dict[str, str]], levels: dict[str, list[str]]) -> str | None:
    """The cells where a factor changes nothing, as compactly as exact: ``None`` means everywhere."""
    keys = list(contexts[0])
    values = {k: [v for v in levels[k] if any(c[k] == v for c in contexts)] for k in keys}
    if math.prod(len(v) for v in values.values()) == len(contexts):  # a full product: factor by factor
        parts = [f"`{k}={' or '.join(v)}`" for k, v in values.items() if len(v) < len(levels[k])]
        return ", ".join(parts) or None
    return "; ".join("`" + ", ".join(f"{k}={v}" for k, v in c.items()) + "`" for c in contexts)


def identical_sentence(item: IdenticalCells, result: Effects) -> str:
    factor, (a, b) = item.factor, item.levels
    levels = {f: result.levels(f) for f in result.factors}
    where = _context(item.contexts, levels)
    what = "nothing at all" if where is None else f"{where} not at all"
    if len(levels[factor]) > 2:  # "nothing at all" would read as the whole factor
        what = f"nothing between `{a}` and `{b}`" + ("" if where is None else f" for {where}")
    return (
        f"`{factor}` changes {what} (identical runs): `{factor}={a}` and `{factor}={b}` give bit-identical "
        f"{result.metric_label} for each of {item.seeds} seeds: there both are the same network "
        "(trained twice, or one record reused by the sweep) and their zero difference is exact, not an estimate."
    )


def _main_sentence(row: AnovaRow, result: Effects) -> str:
    factor = row.factors[0]
    effects = result.effects[factor]
    ref = effects.reference
    kind = metric_kind(result.metric)
    changes = [
        f"`{lv.level}` {change(lv.effect, lv.effect_ci_low, lv.effect_ci_high, kind)}"
        for lv in effects.levels
        if lv.level != ref
    ]
    sentence = (
        f"`{factor}` explains {100 * row.eta2:.0f}% of the variance of {result.metric_label} "
        f"({_stat(row)}): against `{ref}`, {', '.join(changes)}."
    )
    partners = [t for t in result.interactions if factor in t.split(":")]
    if partners:
        sentence += (
            " Its effect depends on the other factor (see " + ", ".join(f"`{t}`" for t in partners) + ")."
        )
    return sentence


def _unresolved_sentence(row: AnovaRow, result: Effects) -> str:
    return (
        f"`{row.factors[0]}` is unresolved with {seeds_text(result)} seeds per cell ({_stat(row)}, "
        f"partial η² = {row.partial_eta2:.2g})."
    )


def _level_text(level: LevelContrast, kind: MetricKind = ACCURACY) -> str:
    said = level.verdict
    if said.verdict == DIFFERS:
        return f"`{level.level}` {change(level.estimate, level.low, level.high, kind)}"
    unit = f" {kind.unit}" if kind.unit else ""
    words = said.words() + unit if said.verdict == EQUIVALENT else said.verdict
    estimate = ("+" if level.estimate >= 0 else "") + kind.number(level.estimate)
    return f"`{level.level}` {estimate}{unit}{interval(level.low, level.high, kind)} ({words})"


def factor_sentence(test: FactorTest, result: Effects) -> str:
    """A factor's verdict where it can act: what it changes, with the interval, and what it interacts with."""
    where = "" if test.where == "everywhere" else f"tested where it can act: {test.where}; "
    stat = f"{where}F({test.df}, {test.df_residual}) = {test.F:.2f}, p = {_p(test.p)}"
    kind = metric_kind(result.metric)
    levels = ", ".join(_level_text(lv, kind) for lv in test.levels)
    sesoi = result.sesoi
    unit = f" {kind.unit}" if kind.unit else ""
    if test.verdict == DIFFERS:
        sentence = f"`{test.factor}` matters ({stat}): against `{test.reference}`, {levels}."
    elif test.verdict == EQUIVALENT and test.interacts:
        sentence = (
            f"`{test.factor}`'s average effect is within ±{sesoi:g}{unit} ({stat}): against "
            f"`{test.reference}`, {levels}; but it is not nothing where it acts, see below."
        )
    elif test.verdict == EQUIVALENT:
        sentence = (
            f"`{test.factor}` changes nothing that matters ({stat}): against `{test.reference}`, {levels}; "
            f"every difference is within ±{sesoi:g}{unit} (two one-sided tests)."
        )
    else:
        needed = seeds_needed_text(test)
        sentence = (
            f"`{test.factor}` is unresolved with {seeds_text(result)} seeds per cell ({stat}): against "
            f"`{test.reference}`, {levels}."
            + (f" To tell a difference of {sesoi:g}{unit} from none would take {needed} (a priori, for the "
               f"smallest effect of interest and the seeds' spread)." if needed else "")
        )
    if test.interacts:
        sentence += (
            f" Its effect depends on the other factors (F({test.interaction_df}, {test.df_residual}) = "
            f"{test.interaction_F:.2f}, p = {_p(test.interaction_p)})."
        )
    return sentence


def _interaction_sentence(row: AnovaRow, result: Effects) -> str:
    info = result.interactions[row.term]
    factor, by, ref = info.factor, info.by, info.reference
    kind = metric_kind(result.metric)
    parts = []
    for by_level in dict.fromkeys(e.by_level for e in info.effects):
        changes = [
            f"`{factor}={e.level}` {change(e.effect, e.effect_ci_low, e.effect_ci_high, kind)}"
            for e in info.effects
            if e.by_level == by_level
        ]
        against = f" against `{factor}={ref}`" if not parts else ""
        parts.append(f"with `{by}={by_level}`, {' and '.join(changes)}{against}")
    return (
        f"`{factor}` and `{by}` interact ({_stat(row)}; {100 * row.eta2:.0f}% of the variance): "
        + "; ".join(parts)
        + "."
    )


def findings(result: Effects) -> list[str]:
    """Plain sentences, only where the statistics support them: each factor where it can act (the
    cell-means model), else the ANOVA's rows; then the ANOVA's significant interactions."""
    lines = [identical_sentence(item, result) for item in result.identical]
    model = result.cell_model
    for row in result.anova:
        significant = row.p_adjusted is not None and row.p_adjusted < result.alpha
        if len(row.factors) == 1 and (model is None or row.factors[0] not in model.tests):
            lines.append(_main_sentence(row, result) if significant else _unresolved_sentence(row, result))
        elif len(row.factors) == 2 and significant:
            lines.append(_interaction_sentence(row, result))
    if model is not None:
        lines[len(result.identical):len(result.identical)] = [factor_sentence(t, result) for t in model.tests.values()]
    return lines
