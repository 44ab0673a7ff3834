"""PNG plots of a comparison, drawn with matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.comparison.analysis.grouping import LABELS, Group
from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.comparison.analysis.seed_stats import SeedStats
from experiments.records.figures import draw_confusion, integer_epochs, new_figure, save
from experiments.records.run_record import RunRecord


def colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _interval(s: SeedStats | None) -> float:
    return 0.0 if s is None or math.isnan(s.half_width) else s.half_width


def is_share(metric: str) -> bool:
    """A fraction in [0, 1] (an accuracy, F1, a probe's share; not a loss: metric_kind), drawn in percent
    as the tables show it."""
    return metric_kind(metric).fraction


def scale(metric: str) -> float:
    return 100.0 if is_share(metric) else 1.0


def axis_label(metric: str) -> str:
    return f"{LABELS.get(metric, metric)}{' (%)' if is_share(metric) else ''}"


def _bounded(s: SeedStats, metric: str) -> Any:
    """Error bar extents in the plot's units; an accuracy's interval is clipped to [0, 100] %."""
    half = _interval(s) * scale(metric)
    if not is_share(metric):
        return half
    mean = s.mean * 100
    low, high = metric_kind(metric).clip(mean - half, mean + half, 100.0)
    return [[mean - low], [high - mean]]


def subject(groups: Sequence[Group]) -> str:
    """What the runs trained, for plot titles: ``lenet5 on mnist`` (several of each are joined)."""
    runs = [r for g in groups for r in g.runs]
    models = sorted({r.model for r in runs if r.model})
    data = sorted({r.data for r in runs if r.data})
    text = "/".join(models) or "model"
    return f"{text} on {'/'.join(data)}" if data else text


def curves(groups: Sequence[Group], path: Path, title: str = "") -> Path | None:
    """Validation accuracy (%) and loss per epoch: the mean over seeds, with a band of one standard
    deviation where a group has more than one seed; ``None`` when no run has two epochs or more."""
    import numpy as np

    if max((len({row.get("epoch") for row in r.history}) for g in groups for r in g.ok_runs), default=0) < 2:
        return None  # one epoch is a point, not a curve
    figure = new_figure(9.6, 4.0)
    axes = figure.subplots(1, 2)
    banded = False
    for color, group in zip(colors(len(groups)), groups):
        for ax, key in zip(axes, ("val/acc", "val/loss")):
            by_epoch: dict[int, list[float]] = {}
            for run in group.ok_runs:
                for row in run.history:
                    if key in row and "epoch" in row:
                        by_epoch.setdefault(int(row["epoch"]), []).append(row[key] * scale(key))
            if not by_epoch:
                continue
            epochs = np.array(sorted(by_epoch))
            mean = np.array([np.mean(by_epoch[e]) for e in epochs])
            ax.plot(
                epochs, mean, marker="o", ms=4, color=color, label=f"{group.label} (n={len(group.ok_runs)})"
            )
            if all(len(by_epoch[e]) > 1 for e in epochs):  # a band of one seed says nothing
                std = np.array([np.std(by_epoch[e], ddof=1) for e in epochs])
                ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
                banded = True
    band = " (mean ± 1 std over seeds)" if banded else (" (mean over seeds)" if _repeated(groups) else "")
    axes[0].set_title("validation accuracy" + band, fontsize=10)
    axes[0].set_ylabel(axis_label("val/acc"))
    axes[1].set_title("validation loss", fontsize=10)
    axes[1].set_ylabel("val loss")
    for ax in axes:
        ax.set_xlabel("epoch (1-based)")
        ax.grid(alpha=0.3)
        integer_epochs(ax)
    axes[0].legend(fontsize=9, loc="best")
    if title:
        figure.suptitle(title, fontsize=11)
    return save(figure, path)


def _repeated(groups: Sequence[Group]) -> bool:
    return any(len(g.ok_runs) > 1 for g in groups)


def final_metric(groups: Sequence[Group], metric: str, path: Path, title: str = "") -> Path | None:
    """Mean final metric per group with its 95% interval; every seed as a dot."""
    scored = [g for g in groups if g.stats.get(metric)]
    if not scored:
        return None
    figure = new_figure(7.2, 1.0 + 0.5 * len(scored) + 1.2)
    ax = figure.subplots()
    ys = list(range(len(scored)))[::-1]
    k = scale(metric)
    for y, color, group in zip(ys, colors(len(scored)), scored):
        s = group.stats[metric]
        ax.errorbar(s.mean * k, y, xerr=_bounded(s, metric), fmt="s", color=color, capsize=4, ms=7)  # type: ignore[union-attr]
        values = [v * k for v in group.values(metric)]
        ax.scatter(values, [y + 0.18] * len(values), color=color, s=16, alpha=0.7, marker="o")
    ax.set_yticks(ys, [g.label + (" ★" if g.is_best else "") for g in scored], fontsize=9)
    shown = "square: mean with 95% CI; dots: seeds" if _repeated(scored) else "one run per group"
    ax.set_xlabel(f"{axis_label(metric)} ({shown}){metric_kind(metric).direction}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(scored) - 0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return save(figure, path)


def metric_against(
    groups: Sequence[Group], metric: str, attribute: str, xlabel: str, path: Path, log: bool, title: str = ""
) -> Path | None:
    """Mean final metric against a cost (parameters, wall time): every run as a dot, the group mean as a
    large marker with the metric's 95% interval (vertical) and the runs' min-max cost (horizontal).
    ``None`` where the cost does not differ between groups (there is nothing to plot against)."""
    points = []
    for group in groups:
        s, x = group.stats.get(metric), group.attribute(attribute)
        if s is not None and x is not None:
            points.append((group, s, x))
    if len(points) < 2 or len({round(x.mean, 6) for _, _, x in points}) < 2:
        return None
    figure = new_figure(7.2, 4.4)
    ax = figure.subplots()
    k = scale(metric)
    for color, (group, s, x) in zip(colors(len(points)), points):
        pairs = [(getattr(r, attribute), r.metric(metric)) for r in group.ok_runs]
        pairs = [(a, b * k) for a, b in pairs if a is not None and b is not None]
        xs = [a for a, _ in pairs]
        ax.scatter(xs, [b for _, b in pairs], color=color, s=16, alpha=0.5)
        spread = [[x.mean - min(xs)], [max(xs) - x.mean]] if xs else 0.0
        ax.errorbar(
            x.mean,
            s.mean * k,
            xerr=spread,
            yerr=_bounded(s, metric),
            fmt="o",
            ms=8,
            color=color,
            capsize=3,
            label=group.label,
        )
    if log and all(x.mean > 0 for _, _, x in points):
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{axis_label(metric)}{metric_kind(metric).direction}\n(mean, 95% CI; dots: runs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return save(figure, path)


def confusion(run: RunRecord, path: Path, title: str | None = None) -> Path | None:
    """Row-normalised confusion matrix of one run; counts written in the cells for up to 20 classes."""
    import numpy as np

    if not run.confusion_matrix:
        return None
    matrix = np.asarray(run.confusion_matrix, dtype=float)
    if matrix.ndim != 2 or matrix.size == 0:
        return None
    return draw_confusion(matrix, run.classes, path, title or f"confusion matrix: {run.name}")


#: The files of :func:`all_plots`, by plot name.
PLOT_FILES = {
    "curves": "val_curves.png",
    "final": "final_test_acc.png",
    "params": "acc_vs_params.png",
    "time": "acc_vs_wall_time.png",
    "confusion": "confusion_best.png",
    "history": "search_history.png",  # a search's (writers.search_plots)
    "settings": "search_settings.png",
}
#: Metrics that may choose the run whose confusion matrix is shown, in order: validation, never test.
SELECTION_METRICS = ("val/acc_best", "val/acc")


def confusion_choice(groups: Sequence[Group]) -> tuple[RunRecord, str] | None:
    """The finished run with a confusion matrix and the best validation score, and the metric that chose it
    (choosing by test accuracy would select on the test set)."""
    runs = [r for g in groups for r in g.ok_runs if r.confusion_matrix]
    for chooser in SELECTION_METRICS:
        scored = [r for r in runs if r.metric(chooser) is not None]
        if scored:
            return max(scored, key=lambda r: r.metric(chooser) or 0.0), chooser
    return None


def best_confusion(groups: Sequence[Group], metric: str, out: Path, about: str) -> Path | None:
    """The confusion matrix of :func:`confusion_choice`; its title says which metric chose the run."""
    choice = confusion_choice(groups)
    if choice is None:
        return None
    run, chooser = choice
    scores = [f"chosen by {LABELS.get(chooser, chooser)} {100 * (run.metric(chooser) or 0):.2f}%"]
    if run.metric(metric) is not None and metric != chooser:
        scores.append(f"{LABELS.get(metric, metric)} {100 * (run.metric(metric) or 0):.2f}%")
    title = f"{about}, best run: {run.name} ({', '.join(scores)})"
    return confusion(run, out / PLOT_FILES["confusion"], title)


def all_plots(groups: Sequence[Group], metric: str, out: Path) -> dict[str, Path]:
    """Every plot of a comparison that can say something, by name (titles name the model and data)."""
    about = subject(groups)
    made: dict[str, Path | None] = {
        "curves": curves(groups, out / PLOT_FILES["curves"], about),
        "final": final_metric(groups, metric, out / PLOT_FILES["final"], about),
        "params": metric_against(
            groups, metric, "params_total", "parameters (log scale)", out / PLOT_FILES["params"], True, about
        ),
        "time": metric_against(
            groups, metric, "wall_time_s", "wall time per run (s)", out / PLOT_FILES["time"], False, about
        ),
    }
    made["confusion"] = best_confusion(groups, metric, out, about)
    return drop_stale(out, made)


def drop_stale(out: Path, made: dict[str, Path | None]) -> dict[str, Path]:
    """The plots made; the files of those not made this time are removed (an earlier comparison's)."""
    for name, file in PLOT_FILES.items():
        if made.get(name) is None:
            (out / file).unlink(missing_ok=True)
    return {k: v for k, v in made.items() if v is not None}
