"""Grouping runs: the keys that vary, each run's value of a key, groups of seeds with their statistics, each
group tested against the best (:mod:`~experiments.comparison.analysis.seed_stats`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from experiments.comparison.analysis.metric_kind import LABELS as LABELS
from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.comparison.analysis.seed_stats import (
    Comparison,
    SeedStats,
    bootstrap,
    holm,
    seed_stats,
    welch,
)
from experiments.records.run_record import RunRecord

#: Override keys that identify a job but are not part of the design being compared.
IGNORED_KEYS = ("seed", "logger", "hydra", "paths", "tags", "trainer.devices", "trainer.accelerator")
#: Final metrics with group statistics over seeds (``val/acc_best``: validation accuracy at its best epoch).
METRICS = ("test/acc", "test/f1_macro", "val/acc_best")


@dataclass
class Group:
    """Runs that share every varying setting except the seed."""

    key: tuple[tuple[str, str], ...]
    runs: list[RunRecord]
    stats: dict[str, SeedStats | None] = field(default_factory=dict)
    comparison: Comparison | None = None
    is_best: bool = False
    copy_of: str | None = None  # the label of the group whose runs this group's runs copy (never tested)
    copies: list[RunRecord] = field(default_factory=list)  # runs that copy a run of this same group

    @property
    def label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.key) or "all runs"

    @property
    def ok_runs(self) -> list[RunRecord]:
        return [r for r in self.runs if r.ok]

    def values(self, metric: str) -> list[float]:
        """The metric of each distinct run (a copy of a run of this group is not another seed)."""
        runs = [r for r in self.ok_runs if not any(r is c for c in self.copies)]
        return [v for v in (r.metric(metric) for r in runs) if v is not None]

    def attribute(self, name: str) -> SeedStats | None:
        return seed_stats([getattr(r, name) for r in self.ok_runs if getattr(r, name) is not None])

    def first(self, name: str) -> Any:
        found = {getattr(r, name) for r in self.ok_runs if getattr(r, name) is not None}
        return found.pop() if len(found) == 1 else None

    def best_run(self, metric: str) -> RunRecord | None:
        scored = [r for r in self.ok_runs if r.metric(metric) is not None]
        return max(scored, key=lambda r: r.metric(metric)) if scored else None


def _ignored(key: str, ignore: Sequence[str]) -> bool:
    return any(key == i or key.startswith(i + ".") for i in ignore)


def varying_keys(runs: Sequence[RunRecord], ignore: Sequence[str] = IGNORED_KEYS) -> list[str]:
    """Override keys whose value differs between runs (a key some runs lack counts as different)."""
    order: list[str] = []
    for run in runs:
        order += [k for k in run.override_values if k not in order]
    keys = []
    for key in order:
        if _ignored(key, ignore):
            continue
        if len({value_of(r, key) for r in runs}) > 1:
            keys.append(key)
    return keys


def value_of(run: RunRecord, key: str) -> str:
    """The run's value of an override key; a run without that override shows its configured value."""
    overrides = run.override_values
    if key in overrides:
        return overrides[key]
    if key in run.choices:  # a config group left at its default: the option Hydra chose
        return run.choices[key]
    configured = run.config_value(key)
    if isinstance(configured, dict):  # a config group left at its default: name it if it says its name
        for name_key in ("name", "type"):
            if isinstance(configured.get(name_key), str | int | float):
                return str(configured[name_key])
        return "default"
    return "default" if configured is None else str(configured)


def group_runs(
    runs: Sequence[RunRecord],
    group_by: Sequence[str] | None = None,
    ignore: Sequence[str] = IGNORED_KEYS,
    metric: str = "test/acc",
    test: str = "welch",
    alpha: float = 0.05,
) -> tuple[list[str], list[Group]]:
    """Group runs by the varying keys (or ``group_by``); statistics per group, each tested against the best.

    A run that did not finish and says nothing about its settings (an unreadable ``results.json`` without
    ``.hydra/``) belongs to no group; the report lists it with the runs that did not finish."""
    runs = [r for r in runs if r.ok or r.overrides or r.choices or r.config]
    keys = list(group_by) if group_by else varying_keys(runs, ignore)
    groups: dict[tuple[tuple[str, str], ...], Group] = {}
    for run in runs:
        key = tuple((k, value_of(run, k)) for k in keys)
        groups.setdefault(key, Group(key, []))
        groups[key].runs.append(run)
    ordered = list(groups.values())
    mark_copies(ordered, metric)
    for group in ordered:
        group.stats = {m: seed_stats(group.values(m)) for m in dict.fromkeys((metric, *METRICS))}
    scored = [g for g in ordered if g.stats.get(metric) and g.copy_of is None]
    if scored:
        sign = metric_kind(metric).sign()
        best = max(scored, key=lambda g: sign * g.stats[metric].mean)  # type: ignore[union-attr]
        best.is_best = True
        compare_with_best(scored, best, metric, test, alpha)
    return keys, ordered


def mark_copies(groups: Sequence[Group], metric: str) -> None:
    """Runs that copy a run of their own group, and groups whose runs all copy another group's runs."""
    import pandas as pd

    from experiments.comparison.analysis.distinct import distinct_networks, provenance

    rows, runs = [], []
    for group in groups:
        for run in group.ok_runs:
            value = run.metric(metric)
            if value is not None:
                rows.append({"group": group.label, "seed": run.seed, metric: value, **provenance(run)})
                runs.append((group, run))
    if not rows:
        return
    frame = pd.DataFrame(rows)
    networks = distinct_networks(frame, ["group"], metric)
    across: dict[int, set[str]] = {}
    for i, j in networks.originals.items():
        (group, run), (origin, _) = runs[i], runs[j]
        if origin is group:
            group.copies.append(run)
        else:
            across.setdefault(id(group), set()).add(origin.label)
    for group in groups:
        scored = [r for r in group.ok_runs if r.metric(metric) is not None]
        targets = across.get(id(group), set())
        copied = sum(1 for i in networks.originals if runs[i][0] is group and runs[networks.originals[i]][0] is not group)
        if len(targets) == 1 and scored and copied == len(scored):
            group.copy_of = targets.pop()


def compare_with_best(groups: Sequence[Group], best: Group, metric: str, test: str, alpha: float) -> None:
    best_values = best.values(metric)
    others = [g for g in groups if g is not best]
    raw = []
    for group in others:
        values = group.values(metric)
        if test == "bootstrap":
            raw.append(bootstrap(values, best_values))
        else:
            raw.append(welch(values, best_values))
    adjusted = holm([r[3] for r in raw])
    for group, (diff, low, high, p), p_adj in zip(others, raw, adjusted):
        testable = not math.isnan(p)
        group.comparison = Comparison(
            diff=diff,
            low=low,
            high=high,
            p=p,
            p_adjusted=p_adj,
            test=test,
            distinguishable=(p_adj < alpha) if testable else None,
        )
