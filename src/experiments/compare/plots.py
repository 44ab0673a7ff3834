"""PNG plots of a comparison, drawn with matplotlib's Agg canvas (no display, no pyplot state)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.compare.runs import Run
from experiments.compare.stats import LABELS, Group, SeedStats

DPI = 100


def new_figure(width: float = 6.4, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


def colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _interval(s: SeedStats | None) -> float:
    return 0.0 if s is None or math.isnan(s.half_width) else s.half_width


def _bounded(s: SeedStats, metric: str) -> Any:
    """Error bar extents; an accuracy's interval is drawn clipped to [0, 1] (it is wide at 2-3 seeds)."""
    half = _interval(s)
    if not metric.split("/")[-1].startswith(("acc", "f1")):
        return half
    low, high = max(s.mean - half, 0.0), min(s.mean + half, 1.0)
    return [[s.mean - low], [high - s.mean]]


def curves(groups: Sequence[Group], path: Path) -> Path | None:
    """Validation accuracy and loss per epoch: the mean over seeds with a band of one standard deviation."""
    import numpy as np

    if not any(r.history for g in groups for r in g.ok_runs):
        return None
    figure = new_figure(9.6, 3.8)
    axes = figure.subplots(1, 2)
    for color, group in zip(colors(len(groups)), groups):
        for ax, key in zip(axes, ("val/acc", "val/loss")):
            by_epoch: dict[int, list[float]] = {}
            for run in group.ok_runs:
                for row in run.history:
                    if key in row and "epoch" in row:
                        by_epoch.setdefault(int(row["epoch"]), []).append(row[key])
            if not by_epoch:
                continue
            epochs = np.array(sorted(by_epoch))
            mean = np.array([np.mean(by_epoch[e]) for e in epochs])
            std = np.array([np.std(by_epoch[e], ddof=1) if len(by_epoch[e]) > 1 else 0 for e in epochs])
            ax.plot(
                epochs, mean, marker="o", ms=4, color=color, label=f"{group.label} (n={len(group.ok_runs)})"
            )
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    axes[0].set_title("validation accuracy (mean ± 1 std over seeds)")
    axes[0].set_ylabel("val acc")
    axes[1].set_title("validation loss")
    axes[1].set_ylabel("val loss")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        integer_epochs(ax)
    axes[0].legend(fontsize=8, loc="best")
    return save(figure, path)


def integer_epochs(ax: Any) -> None:
    """Whole-number epoch ticks, also for a single epoch (where matplotlib would show 0.9, 1.0, 1.1)."""
    from matplotlib.ticker import MaxNLocator

    epochs = sorted({round(float(x)) for line in ax.get_lines() for x in line.get_xdata()})
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 0.5, epochs[0] + 0.5)
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def final_metric(groups: Sequence[Group], metric: str, path: Path) -> Path | None:
    """Mean final metric per group with its 95% interval; every seed as a dot."""
    scored = [g for g in groups if g.stats.get(metric)]
    if not scored:
        return None
    figure = new_figure(6.4, 0.5 + 0.45 * len(scored) + 1.2)
    ax = figure.subplots()
    ys = list(range(len(scored)))[::-1]
    for y, color, group in zip(ys, colors(len(scored)), scored):
        s = group.stats[metric]
        ax.errorbar(s.mean, y, xerr=_bounded(s, metric), fmt="s", color=color, capsize=4, ms=7)  # type: ignore[union-attr]
        values = group.values(metric)
        ax.scatter(values, [y + 0.18] * len(values), color=color, s=14, alpha=0.7, marker="o")
    ax.set_yticks(ys, [g.label + (" ★" if g.is_best else "") for g in scored], fontsize=8)
    ax.set_xlabel(f"{LABELS.get(metric, metric)} (square: mean with 95% CI; dots: seeds)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.7, len(scored) - 0.3)
    return save(figure, path)


def metric_against(
    groups: Sequence[Group], metric: str, attribute: str, xlabel: str, path: Path, log: bool
) -> Path | None:
    """Mean final metric against a cost (parameters, wall time): every run as a dot, the group mean as a
    large marker with the metric's 95% interval (vertical) and the runs' min-max cost (horizontal)."""
    points = []
    for group in groups:
        s, x = group.stats.get(metric), group.attribute(attribute)
        if s is not None and x is not None:
            points.append((group, s, x))
    if not points:
        return None
    figure = new_figure(6.4, 4.0)
    ax = figure.subplots()
    for color, (group, s, x) in zip(colors(len(points)), points):
        pairs = [(getattr(r, attribute), r.metric(metric)) for r in group.ok_runs]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
        xs = [a for a, _ in pairs]
        ax.scatter(xs, [b for _, b in pairs], color=color, s=14, alpha=0.5)
        spread = [[x.mean - min(xs)], [max(xs) - x.mean]] if xs else 0.0
        ax.errorbar(
            x.mean,
            s.mean,
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
    ax.set_ylabel(f"{LABELS.get(metric, metric)} (mean, 95% CI; dots: runs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return save(figure, path)


def confusion(run: Run, path: Path, title: str | None = None) -> Path | None:
    """Row-normalised confusion matrix of one run; counts written in the cells for up to 20 classes."""
    import numpy as np

    if not run.confusion:
        return None
    matrix = np.asarray(run.confusion, dtype=float)
    if matrix.ndim != 2 or matrix.size == 0:
        return None
    return draw_confusion(matrix, run.classes, path, title or f"confusion matrix: {run.name}")


def draw_confusion(matrix: Any, classes: Sequence[str] | None, path: Path, title: str) -> Path:
    import numpy as np

    n = matrix.shape[0]
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = min(8.0, 2.5 + 0.35 * n)
    figure = new_figure(size + 1.0, size)
    ax = figure.subplots()
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    names = list(classes) if classes and len(classes) == n else [str(i) for i in range(n)]
    long_names = max(len(str(name)) for name in names) > 3
    rotation = 90 if n > 10 else (45 if long_names else 0)
    ax.set_xticks(range(n), names, rotation=rotation, ha="right" if rotation == 45 else "center")
    ax.tick_params(axis="x", labelsize=7 if n > 10 else 9)
    ax.set_yticks(range(n), names, fontsize=7 if n > 10 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    color = "white" if normalised[i, j] > 0.5 else "black"
                    ax.text(
                        j,
                        i,
                        f"{int(matrix[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=6 if n > 10 else 7,
                        color=color,
                    )
    return save(figure, path)


def all_plots(groups: Sequence[Group], metric: str, out: Path) -> dict[str, Path]:
    """Every plot of a comparison that the data allows, by name."""
    made: dict[str, Path | None] = {
        "curves": curves(groups, out / "val_curves.png"),
        "final": final_metric(groups, metric, out / "final_test_acc.png"),
        "params": metric_against(
            groups, metric, "params", "parameters (log scale)", out / "acc_vs_params.png", log=True
        ),
        "time": metric_against(
            groups, metric, "wall_time_s", "wall time per run (s)", out / "acc_vs_wall_time.png", log=False
        ),
    }
    best_runs = [r for r in (g.best_run(metric) for g in groups) if r is not None]
    if best_runs:
        run = max(best_runs, key=lambda r: r.metric(metric) or 0.0)
        made["confusion"] = confusion(
            run,
            out / "confusion_best.png",
            f"best run: {run.name} ({LABELS.get(metric, metric)} {run.metric(metric):.4f})",
        )
    return {k: v for k, v in made.items() if v is not None}
