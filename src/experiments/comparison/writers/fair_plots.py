"""The tuning curves of a fair study (analysis.fair_tuning): the validation metric against the tuned value,
one line per arm, its choice ringed; a log x axis for a grid spanning a factor of ten or more (a learning
rate)."""

from __future__ import annotations

from pathlib import Path

from experiments.comparison.analysis.fair_tuning import Tuning
from experiments.comparison.analysis.grouping import LABELS
from experiments.comparison.writers.group_plots import colors
from experiments.records.figures import new_figure, save

PLOT_NAME = "tuning"


def tuning_title(tuning: Tuning) -> str:
    label = LABELS.get(tuning.metric, tuning.metric)
    return f"Tuning curves: {label} against {', '.join(tuning.keys)} (each arm's choice ringed)"


def tuning_plot(tuning: Tuning, out: Path) -> Path | None:
    """The curves as ``tuning_curves.png``; ``None`` for several tuned keys or no scored point."""
    if len(tuning.keys) != 1:
        return None
    try:
        xs = [float(v) for v in tuning.values]
    except ValueError:
        xs = [float(i) for i in range(len(tuning.values))]
        numeric = False
    else:
        numeric = True
    share = 100.0 if tuning.metric.split("/")[-1].startswith(("acc", "f1")) else 1.0
    figure = new_figure(6.4, 4.0)
    ax = figure.subplots()
    drawn = False
    for arm, color in zip(tuning.arms, colors(len(tuning.arms))):
        points = [(x, p.score * share, p.value == arm.chosen) for x, p in zip(xs, arm.points) if p.score is not None]
        if not points:
            continue
        drawn = True
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=color, label=arm.arm, ms=4)
        for x, y, chosen in points:
            if chosen:
                ax.plot([x], [y], "o", ms=11, mfc="none", mec=color, mew=1.6)
    if not drawn:
        return None
    if tuning.log_x:
        ax.set_xscale("log")
    if numeric:
        ax.set_xticks(xs, tuning.values)
        ax.minorticks_off()
    else:
        ax.set_xticks(xs, tuning.values)
    ax.set_xlabel(tuning.keys[0] + (" (log scale)" if tuning.log_x else ""))
    ax.set_ylabel(LABELS.get(tuning.metric, tuning.metric) + (" (%)" if share == 100.0 else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(figure, out / "tuning_curves.png")
