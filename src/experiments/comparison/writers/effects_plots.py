"""Plots of the "Effects" section: main effects (one panel per factor) and significant interactions.

Drawn with matplotlib's Agg canvas (no display, no pyplot state) from the
:class:`~experiments.comparison.analysis.effects_results.Effects` of the analysis; values in accuracy points
(percent).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from experiments.comparison.analysis.effects_results import CellMean, Effects, LevelEffect
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind
from experiments.records.figures import new_figure, save


def _error_bars(points: Sequence[LevelEffect | CellMean], kind: MetricKind) -> list[list[float]]:
    """Asymmetric bar lengths of the 95% intervals, clipped to [0, 100] points; none where unknown."""
    below, above = [], []
    for p in points:
        low, high = kind.clip(
            p.mean if p.ci_low is None else p.ci_low, p.mean if p.ci_high is None else p.ci_high, kind.scale
        )
        below.append(max(p.mean - low, 0.0))
        above.append(max(high - p.mean, 0.0))
    return [below, above]


def main_effects_plot(result: Effects, path: Path) -> Path:
    """One panel per factor: each level's mean with its 95% interval, the reference level marked."""
    factors = result.factors
    kind = metric_kind(result.metric)
    figure = new_figure(max(3.2 * len(factors), 4.8), 3.8)
    axes = figure.subplots(1, len(factors), sharey=True, squeeze=False)[0]
    for ax, factor in zip(axes, factors):
        effects = result.effects[factor]
        levels = effects.levels
        xs = list(range(len(levels)))
        ax.errorbar(xs, [lv.mean for lv in levels], yerr=_error_bars(levels, kind), fmt="o-", capsize=4, ms=6)
        ax.set_xticks(xs, [f"{lv.level}\n(n={lv.n})" for lv in levels], fontsize=8)
        ax.set_title(f"{factor} (ref. {effects.reference})", fontsize=9)
        ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(_unit_label(result, kind))
    figure.suptitle(f"Main effects on {result.metric_label}: level means with 95% CI", fontsize=10)
    return save(figure, path)


def interaction_plot(result: Effects, term: str, path: Path) -> Path:
    """Levels of one factor on the x axis, one line per level of the other, with 95% intervals."""
    from matplotlib import colormaps

    info = result.interactions[term]
    kind = metric_kind(result.metric)
    factor, by = info.factor, info.by
    levels = result.levels(factor)
    by_levels = list(dict.fromkeys(c.by_level for c in info.cells))
    figure = new_figure(max(4.8, 1.4 * len(levels) + 2.4), 4.0)
    ax = figure.subplots()
    cmap = colormaps["tab10"]
    for i, by_level in enumerate(by_levels):
        cells = sorted((c for c in info.cells if c.by_level == by_level), key=lambda c: levels.index(c.level))
        offset = 0.06 * (i - (len(by_levels) - 1) / 2)  # so that overlapping intervals stay readable
        xs = [levels.index(c.level) + offset for c in cells]
        ax.errorbar(
            xs,
            [c.mean for c in cells],
            yerr=_error_bars(cells, kind),
            fmt="o-",
            capsize=4,
            ms=6,
            color=cmap(i % cmap.N),
            label=f"{by}={by_level}",
        )
    ax.set_xticks(range(len(levels)), levels)
    ax.set_xlabel(factor)
    ax.set_ylabel(_unit_label(result, kind))
    ax.set_title(f"{result.metric_label}: {factor} by {by} (cell means with 95% CI)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save(figure, path)


def _unit_label(result: Effects, kind: MetricKind) -> str:
    """``test acc (%)``; ``probe/gap_loss (lower is better)``."""
    return result.metric_label + (" (%)" if kind.fraction else "") + kind.direction


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")


def _plot_name(term: str) -> str:
    return "effects_" + "_x_".join(_file_part(part) for part in term.split(":"))


def effects_plots(result: Effects, out: Path) -> dict[str, Path]:
    """The main-effects plot and one interaction plot per significant interaction, by name."""
    plots = {"effects_main": main_effects_plot(result, out / "effects_main.png")}
    for term in result.interactions:
        plots[_plot_name(term)] = interaction_plot(result, term, out / f"{_plot_name(term)}.png")
    return plots


def plot_titles(result: Effects) -> dict[str, str]:
    """Captions of the plots :func:`effects_plots` makes, by the same names."""
    label = result.metric_label
    titles = {"effects_main": f"Main effects on {label}: level means with 95% confidence intervals"}
    for term, info in result.interactions.items():
        titles[_plot_name(term)] = f"Interaction {info.factor} by {info.by}: {label} per cell, 95% CI"
    return titles
