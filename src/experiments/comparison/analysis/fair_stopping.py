"""The stopping section of a fair study: the one rule every job trained under (``stopping``), the epoch at
which each arm stopped (median and range over its seeds, from ``epochs``) and how (``stopped_by``), and the
arms with a job that hit the epoch budget still improving (``still_improving``): their number is a lower
bound."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from experiments.comparison.analysis.fair_sets import BEST, SHARED, TUNE, FairSets
from experiments.records.run_record import RunRecord


@dataclass
class StoppingRule:
    monitor: str | None = None
    mode: str | None = None
    patience: int | None = None
    min_delta: float | None = None
    max_epochs: int | None = None

    def words(self) -> str:
        if self.patience is None:
            return f"a fixed budget of {self.max_epochs} epochs" if self.max_epochs else "not recorded"
        budget = f", within {self.max_epochs} epochs" if self.max_epochs else ""
        delta = f" by more than {self.min_delta:g}" if self.min_delta else ""
        return (f"stop once `{self.monitor}` has not improved{delta} ({self.mode}) for {self.patience} "
                f"epochs{budget}")


@dataclass
class ArmStopping:
    arm: str
    stage: str  # best or shared
    runs: int
    epochs_median: float | None
    epochs_min: int | None
    epochs_max: int | None
    by_patience: int
    by_budget: int
    still_improving: int


@dataclass
class Stopping:
    rule: StoppingRule | None
    arms: list[ArmStopping]
    still_improving: dict[str, dict[str, int]] = field(default_factory=dict)  # arm -> stage -> jobs
    notes: list[str] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)  # stage -> distinct finished jobs (copies once)

    def warning(self) -> str:
        """One sentence: how many distinct jobs of each stage hit the budget still improving; the arms by name
        where there are at most three (the stopping section lists them all)."""
        if not self.still_improving:
            return ""
        counts = {stage: sum(s.get(stage, 0) for s in self.still_improving.values()) for stage in self.jobs}
        parts = [f"{counts[stage]} of {self.jobs[stage]} {stage} jobs" for stage in self.jobs if counts.get(stage)]
        arms = list(self.still_improving)
        named = ": " + ", ".join(f"`{a}`" for a in arms) if len(arms) <= 3 else f" in {len(arms)} arms"
        return (
            f"Hit the epoch budget still improving: {', '.join(parts)}{named}; their numbers are lower bounds, "
            "and a larger `trainer.max_epochs` may change the comparison (the section \"Stopping\" lists them)."
        )


def _rule(stopping: object) -> StoppingRule | None:
    if not isinstance(stopping, dict):
        return None

    def integer(key: str) -> int | None:
        value = stopping.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    delta = stopping.get("min_delta")
    return StoppingRule(
        str(stopping["monitor"]) if stopping.get("monitor") is not None else None,
        str(stopping["mode"]) if stopping.get("mode") is not None else None,
        integer("patience"),
        float(delta) if isinstance(delta, int | float) and not isinstance(delta, bool) else None,
        integer("max_epochs"),
    )


def _arm_row(arm: str, stage: str, runs: Sequence[RunRecord]) -> ArmStopping:
    epochs = [r.epochs for r in runs if r.epochs is not None]
    return ArmStopping(
        arm, stage, len(runs),
        float(statistics.median(epochs)) if epochs else None,
        min(epochs) if epochs else None,
        max(epochs) if epochs else None,
        sum(1 for r in runs if r.stopped_by == "patience"),
        sum(1 for r in runs if r.stopped_by == "budget"),
        sum(1 for r in runs if r.still_improving),
    )


def _distinct_in_set(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The runs less those that copy another run of the same set (``identical_to`` pointing into it)."""
    paths = {os.path.realpath(r.path) for r in runs if r.path}
    return [
        r for r in runs
        if not (r.identical_to and r.path and os.path.realpath(os.path.join(r.path, r.identical_to)) in paths)
    ]


def stopping(sets: FairSets) -> Stopping | None:
    """The stopping summary of the finished jobs; ``None`` where none recorded how it stopped."""
    everything = [r for r in [*sets.tune, *sets.best, *sets.shared] if r.ok]
    if not any(r.stopping or r.stopped_by or r.epochs for r in everything):
        return None
    rules = [rule for r in everything if (rule := _rule(r.stopping)) is not None]
    distinct = list({repr(rule): rule for rule in rules}.values())
    result = Stopping(distinct[0] if distinct else None, [])
    if len(distinct) > 1:
        result.notes.append(f"The jobs recorded {len(distinct)} different stopping rules: "
                            + "; ".join(rule.words() for rule in distinct) + ".")
    for stage, runs in ((BEST, sets.best), (SHARED, sets.shared)):
        finished = [r for r in runs if r.ok]
        for arm in dict.fromkeys(sets.arm(r) for r in finished):
            result.arms.append(_arm_row(arm, stage, [r for r in finished if sets.arm(r) == arm]))
    for stage, runs in ((BEST, sets.best), (SHARED, sets.shared), (TUNE, sets.tune)):
        distinct = _distinct_in_set([r for r in runs if r.ok])  # a copy is not another job
        if distinct:
            result.jobs[stage] = len(distinct)
        for run in distinct:
            if run.still_improving:
                counts = result.still_improving.setdefault(sets.arm(run), {})
                counts[stage] = counts.get(stage, 0) + 1
    return result
