"""The "Probes" section as text (analysis.probe_curves): an intro, a table per probe (group, metric, n, mean,
95% interval) and the plot that goes with it, shared by the Markdown, HTML and terminal writers."""

from __future__ import annotations

from dataclasses import dataclass

from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.comparison.analysis.probe_curves import ProbeCurves, ProbeStat

#: The plot shown under a probe's table, by the table's topic.
TOPIC_PLOTS = {"shift": "probe_shift", "consistency": "probe_consistency", "borders": "probe_borders"}
HEADER = ["group", "metric", "n", "mean", "95% CI"]
INTRO = (
    "Measured on each trained network after its test (README, Probes). Each group's mean is over its "
    "distinct runs (a copy of a run counts once), with the 95% t-interval over them (none for one run); "
    "accuracies, shares and ECE in percent (intervals clipped to the metric's range), losses raw. At 0 px "
    "the accuracy is the plain test accuracy."
)


@dataclass
class ProbePart:
    """One probe's table and the name of its plot (``None`` where it has none)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    plot: str | None


def _value(stat: ProbeStat, value: float) -> str:
    kind = metric_kind(stat.metric)
    return kind.number(kind.scale * value)


def stat_row(stat: ProbeStat) -> list[str]:
    kind = metric_kind(stat.metric)
    name = stat.metric + (" (%)" if kind.fraction else "") + kind.direction
    if stat.low is None or stat.high is None:
        interval = "-"
    else:
        low, high = kind.clip(stat.low, stat.high)
        interval = f"[{_value(stat, low)}, {_value(stat, high)}]"
    return [stat.group, name, str(stat.n), _value(stat, stat.mean), interval]


def probe_parts(curves: ProbeCurves) -> list[ProbePart]:
    """A part per probe with a metric present, in the probes' order."""
    return [
        ProbePart(table.title, HEADER, [stat_row(s) for s in table.rows], TOPIC_PLOTS.get(table.topic))
        for table in curves.tables
    ]


def probe_intro(curves: ProbeCurves) -> list[str]:
    return [INTRO, *curves.notes]


def probe_lines(curves: ProbeCurves) -> list[str]:
    """One line per group for the terminal: its main probe numbers (shift at the largest distance,
    consistency, edge and occlusion at the widest band), in percent."""
    said: dict[str, list[str]] = {g: [] for g in curves.groups}
    for curve in curves.shift:
        said[curve.group].append(f"shift {curve.xs[-1]:g}px {100 * curve.points[-1].mean:.1f}%")
    for stat in curves.consistency:
        said[stat.group].append(f"consistency {100 * stat.mean:.1f}%")
    for curve in curves.borders:
        said[curve.group].append(f"occluded {curve.xs[-1]:g}px {100 * curve.points[-1].mean:.1f}%")
    for stat in curves.edge:
        said[stat.group].append(f"edge {100 * stat.mean:.1f}%")
    return [f"{group}: {', '.join(parts)}" for group, parts in said.items() if parts]
