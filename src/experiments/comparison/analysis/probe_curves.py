"""The probes' numbers per group (``probe/...`` metrics of the runs, src/experiments/probes/): accuracy
against shift and against the occluded border's width (0 = the plain test accuracy), consistency, edge
accuracy, and a table per probe.

Each group's value at each point is the mean over its distinct runs (a copy of a run is not another seed:
:meth:`Group.values`, marked by :mod:`~experiments.comparison.analysis.distinct`; a group whose runs all
copy another group's is left out), with the 95% t-interval of :func:`seed_stats` (scipy). Values stay in
the recorded unit (fractions in [0, 1], losses raw): the writers scale them
(:mod:`~experiments.comparison.analysis.metric_kind`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.seed_stats import seed_stats

#: The accuracy at no edit: x = 0 of every curve.
PLAIN = "test/acc"
PREFIX = "probe/"
SHIFT = re.compile(r"^probe/shift_acc_(\d+(?:\.\d+)?)px$")
CIRCULAR = re.compile(r"^probe/shift_acc_circular_(\d+(?:\.\d+)?)px$")
OCCLUDED = re.compile(r"^probe/border_occlude_acc_(\d+(?:\.\d+)?)px$")
#: Each probe's table: its title and what its metrics' names start with, in the probes' order.
TOPICS = (
    ("shift", "Shift", ("probe/shift_acc",)),
    ("consistency", "Consistency", ("probe/consistency",)),
    ("rotation", "Rotation", ("probe/rot_acc",)),
    ("scale", "Scale", ("probe/scale_acc",)),
    ("borders", "Borders", ("probe/edge_acc", "probe/border_occlude_acc")),
    ("overfitting", "Overfitting", ("probe/gap_", "probe/train_", "probe/ece")),
    ("dead_units", "Dead units", ("probe/dead_units",)),
)


@dataclass
class ProbeStat:
    """One metric of one group over its distinct runs: n, mean and the 95% t-interval (recorded unit)."""

    group: str
    metric: str
    n: int
    mean: float
    low: float | None  # None for one run
    high: float | None


@dataclass
class ProbeCurve:
    """One group's line: its metric at each x (shift in px, occluded width in px); x = 0 is test/acc."""

    group: str
    xs: list[float]
    points: list[ProbeStat]


@dataclass
class ProbeTable:
    """A probe's table: every probe metric of it that some run has, for each group."""

    topic: str
    title: str
    rows: list[ProbeStat]


@dataclass
class ProbeCurves:
    """What the "Probes" section shows: curves, bars and a table per probe."""

    groups: list[str]
    shift: list[ProbeCurve] = field(default_factory=list)
    shift_circular: list[ProbeCurve] = field(default_factory=list)
    consistency: list[ProbeStat] = field(default_factory=list)
    borders: list[ProbeCurve] = field(default_factory=list)
    edge: list[ProbeStat] = field(default_factory=list)
    tables: list[ProbeTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _stat(group: Group, metric: str) -> ProbeStat | None:
    s = seed_stats(group.values(metric))
    if s is None:
        return None
    interval = (None, None) if s.n < 2 else (s.low, s.high)
    return ProbeStat(group.label, metric, s.n, s.mean, *interval)


def _numbered(metrics: Sequence[str], pattern: re.Pattern[str]) -> list[tuple[float, str]]:
    found = [(float(m.group(1)), name) for name in metrics if (m := pattern.match(name))]
    return sorted(found)


def _curve(group: Group, numbered: Sequence[tuple[float, str]]) -> ProbeCurve | None:
    """The group's line from x = 0 (test/acc) through each numbered metric it has; ``None`` without one."""
    xs, points = [], []
    for x, metric in [(0.0, PLAIN), *numbered]:
        stat = _stat(group, metric)
        if stat is not None:
            xs.append(x)
            points.append(stat)
    return ProbeCurve(group.label, xs, points) if any(x > 0 for x in xs) else None


def _order(metric: str) -> tuple[str, float, str]:
    """Within a table: by the name without its number, then by the number (1px before 2px before 10px)."""
    number = re.search(r"(\d+(?:\.\d+)?)", metric.rsplit("/", 1)[-1])
    return (re.sub(r"\d+(?:\.\d+)?", "#", metric), float(number.group(1)) if number else -1.0, metric)


def probe_metrics(groups: Sequence[Group]) -> list[str]:
    """The ``probe/...`` metrics some finished run of the groups has, in a stable order."""
    names = {k for g in groups for r in g.ok_runs for k in r.metrics if k.startswith(PREFIX)}
    return sorted(names, key=_order)


def probe_curves(groups: Sequence[Group]) -> ProbeCurves | None:
    """The probes' curves, bars and tables of ``groups``; ``None`` where no run has a probe metric."""
    metrics = probe_metrics(groups)
    if not metrics:
        return None
    shown = [g for g in groups if g.copy_of is None and g.ok_runs]
    result = ProbeCurves([g.label for g in shown])
    result.notes += [
        f"`{g.label}` copies `{g.copy_of}` (the same networks and seeds): not shown again." for g in groups if g.copy_of
    ]
    shift, circular, occluded = (_numbered(metrics, p) for p in (SHIFT, CIRCULAR, OCCLUDED))
    for group in shown:
        for numbered, into in ((shift, result.shift), (circular, result.shift_circular), (occluded, result.borders)):
            curve = _curve(group, numbered) if numbered else None
            if curve is not None:
                into.append(curve)
        for metric, into_stats in (("probe/consistency", result.consistency), ("probe/edge_acc", result.edge)):
            stat = _stat(group, metric)
            if stat is not None:
                into_stats.append(stat)
    taken: set[str] = set()
    for topic, title, starts in TOPICS:
        names = [m for m in metrics if m.startswith(starts) and m not in taken]
        taken |= set(names)
        if topic == "shift" and names:
            names = [PLAIN, *names]
        rows = [s for m in names for g in shown if (s := _stat(g, m)) is not None]
        if rows:
            result.tables.append(ProbeTable(topic, title, rows))
    others = [m for m in metrics if m not in taken]
    rows = [s for m in others for g in shown if (s := _stat(g, m)) is not None]
    if rows:
        result.tables.append(ProbeTable("other", "Other probes", rows))
    return result
