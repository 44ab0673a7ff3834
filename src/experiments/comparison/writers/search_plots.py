"""Plots of a search: the objective trial by trial (with the best so far) and against each searched setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.comparison.analysis.grouping import Group, value_of
from experiments.comparison.analysis.search import Search, trial_id
from experiments.comparison.writers.group_plots import (
    PLOT_FILES,
    axis_label,
    best_confusion,
    curves,
    drop_stale,
    new_figure,
    save,
    scale,
    subject,
)
from experiments.records.run_record import number


def history(search: Search, path: Path, title: str) -> Path | None:
    """The objective of every finished trial in trial order, and the best so far as a step line."""
    trials = [(int(trial_id(r)), search.score(r)) for r in search.trials if trial_id(r).isdigit()]
    points = [(t, s * scale(search.objective)) for t, s in trials if s is not None]
    if len(points) < 2:
        return None
    points.sort()
    xs, ys = [t for t, _ in points], [s for _, s in points]
    pick = max if search.direction != "minimize" else min
    best = [pick(ys[: i + 1]) for i in range(len(ys))]
    figure = new_figure(7.2, 4.0)
    ax = figure.subplots()
    ax.scatter(xs, ys, s=24, color="tab:blue", label="trial", zorder=3)
    ax.step(xs, best, where="post", color="tab:orange", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(axis_label(search.objective))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    ax.set_title(f"{title}: objective per trial", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return save(figure, path)


def settings(search: Search, path: Path, title: str) -> Path | None:
    """The objective against each searched setting, one panel each (log scale where a number spans 10x)."""
    finished = [r for r in search.trials if search.score(r) is not None]
    if len(finished) < 2 or not search.keys:
        return None
    figure = new_figure(min(4.0 * len(search.keys), 12.0), 3.8)
    axes = figure.subplots(1, len(search.keys), squeeze=False)[0]
    ys = [(search.score(r) or 0.0) * scale(search.objective) for r in finished]
    for ax, key in zip(axes, search.keys):
        values = [value_of(r, key) for r in finished]
        numbers = [number(v) for v in values]
        if all(n is not None for n in numbers):
            xs: list[Any] = numbers
            positive = [n for n in numbers if n is not None and n > 0]
            if len(positive) == len(numbers) and max(positive) / min(positive) >= 10:
                from matplotlib.ticker import NullFormatter

                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^-4 ... labels overlap
        else:  # a choice: its options as categories, in the order first seen
            options = list(dict.fromkeys(values))
            xs = [options.index(v) for v in values]
            ax.set_xticks(range(len(options)), options)
            ax.set_xlim(-0.5, len(options) - 0.5)
        ax.scatter(xs, ys, s=24, color="tab:blue")
        ax.set_xlabel(key)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(axis_label(search.objective))
    figure.suptitle(f"{title}: objective against each searched setting (one dot per trial)", fontsize=10)
    return save(figure, path)


def search_plots(search: Search, groups: list[Group], metric: str, out: Path) -> dict[str, Path]:
    """The plots of a search by name: history, settings, learning curves (up to 10 trials), confusion."""
    about = subject(groups)
    made: dict[str, Path | None] = {
        "history": history(search, out / PLOT_FILES["history"], about),
        "settings": settings(search, out / PLOT_FILES["settings"], about),
        "curves": curves(groups, out / PLOT_FILES["curves"], about) if len(groups) <= 10 else None,
        "confusion": best_confusion(groups, metric, out, about),
    }
    return drop_stale(out, made)
