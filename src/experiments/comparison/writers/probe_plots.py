"""The probes' pictures (analysis.probe_curves), drawn with matplotlib's Agg canvas: accuracy against shift
(circular shifts dashed), consistency per group, accuracy against the occluded border's width with the edge
accuracy beside it; one colour per group, means over distinct runs with 95% t-intervals, in percent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.probe_curves import ProbeCurve, ProbeCurves, ProbeStat
from experiments.comparison.writers.group_plots import colors, subject
from experiments.records.figures import new_figure, save

#: Each group's colour (an RGBA tuple of matplotlib's), by label.
Colors = dict[str, tuple[float, ...]]
#: The files of :func:`probe_plots`, by plot name.
PROBE_FILES = {
    "probe_shift": "probe_shift.png",
    "probe_consistency": "probe_consistency.png",
    "probe_borders": "probe_borders.png",
}
TITLES = {
    "probe_shift": "Test accuracy (%) against shift (px), one line per group (mean, 95% CI over distinct runs)",
    "probe_consistency": "Consistency (%): the same class under two random shifts (mean, 95% CI)",
    "probe_borders": "Test accuracy (%) against the occluded border's width (px), and with the content at an edge",
}
INTERVAL = "mean over distinct runs, bars: 95% t-interval"


def _bars(stat: ProbeStat) -> list[list[float]]:
    """Error bar lengths in percent, the interval clipped to [0, 100]; none for one run."""
    mean = 100 * stat.mean
    if stat.low is None or stat.high is None:
        return [[0.0], [0.0]]
    low, high = max(100 * stat.low, 0.0), min(100 * stat.high, 100.0)
    return [[max(mean - low, 0.0)], [max(high - mean, 0.0)]]


def _lines(ax: Any, curves: Sequence[ProbeCurve], color_of: Colors, dashed: bool = False) -> None:
    """One line per group with error bars, nudged sideways so that overlapping intervals stay readable."""
    for curve in curves:
        i = list(color_of).index(curve.group)
        offset = 0.04 * (i - (len(color_of) - 1) / 2) + (0.02 if dashed else 0.0)
        bars = [_bars(p) for p in curve.points]
        n = max(p.n for p in curve.points)
        ax.errorbar(
            [x + offset for x in curve.xs],
            [100 * p.mean for p in curve.points],
            yerr=[[b[0][0] for b in bars], [b[1][0] for b in bars]],
            fmt="o--" if dashed else "o-",
            ms=4 if dashed else 6,
            capsize=3,
            color=color_of[curve.group],
            alpha=0.7 if dashed else 1.0,
            label=f"{curve.group} (circular)" if dashed else f"{curve.group} (n={n})",
        )


def _ticks(ax: Any, curves: Sequence[ProbeCurve]) -> None:
    xs = sorted({x for c in curves for x in c.xs})
    ax.set_xticks(xs, [f"{x:g}" for x in xs])


def shift_plot(curves: ProbeCurves, color_of: Colors, path: Path, about: str) -> Path | None:
    if not curves.shift:
        return None
    figure = new_figure(9.0, 4.6)
    ax = figure.subplots()
    _lines(ax, curves.shift, color_of)
    _lines(ax, curves.shift_circular, color_of, dashed=True)
    _ticks(ax, curves.shift + curves.shift_circular)
    ax.set_xlabel("shift (px; 0 = the test images as they are)")
    ax.set_ylabel("test accuracy (%)")
    dashed = "; dashed: rolled round (circular)" if curves.shift_circular else ""
    ax.set_title(f"Accuracy against shift: {about}\n({INTERVAL}{dashed})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="group", title_fontsize=8)
    return save(figure, path)


def _bar_panel(ax: Any, stats: Sequence[ProbeStat], color_of: Colors, xlabel: str) -> None:
    """Horizontal bars, one per group, with the 95% interval and the n."""
    ys = list(range(len(stats)))[::-1]
    for y, stat in zip(ys, stats):
        ax.barh(y, 100 * stat.mean, color=color_of[stat.group], alpha=0.8, height=0.6)
        ax.errorbar(100 * stat.mean, y, xerr=_bars(stat), fmt="none", ecolor="black", capsize=4)
    ax.set_yticks(ys, [f"{s.group}\n(n={s.n})" for s in stats], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)


def consistency_plot(curves: ProbeCurves, color_of: Colors, path: Path, about: str) -> Path | None:
    if not curves.consistency:
        return None
    figure = new_figure(7.2, 1.6 + 0.55 * len(curves.consistency))
    ax = figure.subplots()
    _bar_panel(ax, curves.consistency, color_of, "consistency (%): same class under two random shifts")
    ax.set_title(f"Consistency (Zhang, ICML 2019): {about}\n({INTERVAL})", fontsize=10)
    return save(figure, path)


def borders_plot(curves: ProbeCurves, color_of: Colors, path: Path, about: str) -> Path | None:
    if not curves.borders and not curves.edge:
        return None
    panels = int(bool(curves.borders)) + int(bool(curves.edge))
    figure = new_figure(6.0 * panels + 0.8, 4.6)
    axes = list(figure.subplots(1, panels, squeeze=False)[0])
    if curves.borders:
        ax = axes.pop(0)
        _lines(ax, curves.borders, color_of)
        _ticks(ax, curves.borders)
        ax.set_xlabel("occluded border width (px; 0 = no occlusion)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title("accuracy with a band along the borders filled", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left", title="group", title_fontsize=8)
    if curves.edge:
        _bar_panel(axes[0], curves.edge, color_of, "edge accuracy (%): content moved to touch an edge")
        axes[0].set_title("accuracy with the content at an edge (mean of 4)", fontsize=9)
    figure.suptitle(f"Borders: {about} ({INTERVAL})", fontsize=10)
    return save(figure, path)


def probe_plots(curves: ProbeCurves | None, groups: Sequence[Group], out: Path) -> dict[str, Path]:
    """The probes' plots that can say something, by name; an earlier comparison's probe files not made this
    time are removed (no stale picture beside a report without probes)."""
    made: dict[str, Path | None] = {}
    if curves is not None:
        color_of: Colors = {g: tuple(c) for g, c in zip(curves.groups, colors(len(curves.groups)))}
        about = subject(groups)
        made = {
            "probe_shift": shift_plot(curves, color_of, out / PROBE_FILES["probe_shift"], about),
            "probe_consistency": consistency_plot(curves, color_of, out / PROBE_FILES["probe_consistency"], about),
            "probe_borders": borders_plot(curves, color_of, out / PROBE_FILES["probe_borders"], about),
        }
    for name, file in PROBE_FILES.items():
        if made.get(name) is None:
            (out / file).unlink(missing_ok=True)
    return {k: v for k, v in made.items() if v is not None}
