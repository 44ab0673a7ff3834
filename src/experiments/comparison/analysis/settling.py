"""When the ranking settles: the groups and each factor's levels ranked by validation accuracy, epoch by epoch.

A study needs "enough epochs for the ranking to settle". :func:`ranking_by_epoch` ranks the groups by
their mean ``val/acc`` at each epoch (from each run's history) and measures the agreement with the
last epoch's ranking with Kendall's tau-b (``scipy.stats.kendalltau``, ties allowed); it also orders
each factor's levels by their mean at that epoch. A factor's order has settled at the first epoch from
which it stays the same to the end. The result is a :class:`Settling`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any

from experiments.comparison.analysis.grouping import Group, value_of
from experiments.records.run_record import RunRecord, finite

METRIC = "val/acc"


@dataclass
class EpochRanking:
    """The groups and each factor's levels ranked at one epoch."""

    epoch: int
    kendall_tau: float | None  # the groups' ranking against the last epoch's
    p: float | None
    best: str  # the best group's label
    orders: dict[str, list[str]]  # each factor's levels, best first


@dataclass
class Settling:
    """Rankings epoch by epoch, and the epoch from which each stays the final one."""

    metric: str
    epochs: list[int]
    groups: int
    rows: list[EpochRanking]
    factors_settled_at: dict[str, int]
    best_settled_at: int

    def to_json(self) -> dict[str, Any]:
        """The ``ranking_by_epoch`` of ``summary.json``."""
        return asdict(self)


def _at_epoch(run: RunRecord, epoch: int, metric: str) -> float | None:
    for row in run.history:
        if row.get("epoch") == epoch and finite(row.get(metric)):
            return float(row[metric])
    return None


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def _order(means: dict[str, float]) -> list[str]:
    """Labels from the highest mean to the lowest (equal means keep their first order)."""
    return sorted(means, key=lambda label: -means[label])


def _settled(orders: Sequence[Any]) -> int:
    """Index of the first entry from which every later entry equals the last one."""
    index = len(orders) - 1
    while index > 0 and orders[index - 1] == orders[-1]:
        index -= 1
    return index


def ranking_by_epoch(groups: Sequence[Group], keys: Sequence[str], metric: str = METRIC) -> Settling | None:
    """Group and level rankings at each epoch every group reached; ``None`` for < 2 groups or epochs."""
    from scipy import stats

    groups = [g for g in groups if g.ok_runs]
    if len(groups) < 2:
        return None
    last = min(
        max((int(row.get("epoch", 0)) for row in r.history), default=0) for g in groups for r in g.ok_runs
    )
    epochs = list(range(1, last + 1))
    if len(epochs) < 2:
        return None
    runs = [r for g in groups for r in g.ok_runs]
    means = {
        e: {g.label: _mean([_at_epoch(r, e, metric) for r in g.ok_runs]) for g in groups} for e in epochs
    }
    if any(v is None for row in means.values() for v in row.values()):
        return None
    final = [means[last][g.label] for g in groups]
    # Each factor's levels and the runs at each level, worked out once for all epochs.
    members: dict[str, dict[str, list[RunRecord]]] = {k: {} for k in keys}
    for run in runs:
        for key in keys:
            members[key].setdefault(value_of(run, key), []).append(run)
    factors = [k for k in keys if len(members[k]) > 1]
    rows = []
    for epoch in epochs:
        current = [means[epoch][g.label] for g in groups]
        tau, p = stats.kendalltau(current, final)
        orders = {}
        for factor in factors:
            level_means = {
                level: _mean([_at_epoch(r, epoch, metric) for r in members[factor][level]])
                for level in sorted(members[factor])
            }
            orders[factor] = _order(level_means)
        rows.append(
            EpochRanking(
                epoch=epoch,
                kendall_tau=None if math.isnan(tau) else float(tau),
                p=None if math.isnan(p) else float(p),
                best=_order(means[epoch])[0],
                orders=orders,
            )
        )
    settled = {f: epochs[_settled([row.orders[f] for row in rows])] for f in factors}
    return Settling(
        metric=metric,
        epochs=epochs,
        groups=len(groups),
        rows=rows,
        factors_settled_at=settled,
        best_settled_at=epochs[_settled([row.best for row in rows])],
    )


def settling_sentence(result: Settling) -> str:
    """One plain sentence for the findings."""
    last = result.epochs[-1]
    before = result.rows[-2]
    parts = [
        f"{factor}'s order by {result.metric} is the final one from epoch {epoch}"
        for factor, epoch in result.factors_settled_at.items()
    ]
    tau = before.kendall_tau
    text = (
        f"Ranking by epoch: the {result.groups} groups ranked at epoch {before.epoch} agree with "
        f"epoch {last} with Kendall's tau {tau:.2f}"
        if tau is not None
        else "Ranking by epoch:"
    )
    if parts:
        text += "; " + "; ".join(parts)
    best = result.best_settled_at
    text += f"; the best group is the final one from epoch {best}"
    if max([best, *result.factors_settled_at.values()]) == last:
        text += " (it changed at the last epoch: more epochs may change the ranking)"
    return text + "."
