"""The stopping section of a fair study: the one rule every job trained under (``stopping``), the epoch at
which each arm stopped (median and range over its seeds, from ``epochs``) and how (``stopped_by``), and the
arms with a job that hit the epoch budget still improving (``still_improving``): their number is a lower
bound."""

from __future__ import annotations

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

    def warning(self) -> str:
        if not self.still_improving:
            return ""
        parts = []
        for arm, stages in self.still_improving.items():
            parts.append(f"`{arm}` ({', '.join(f'{s}: {n}' for s, n in stages.items())} job(s))")
        return (
            "Hit the epoch budget still improving: " + ", ".join(parts)
            + ": those numbers are lower bounds; a larger `trainer.max_epochs` may change the comparison."
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
        for run in runs:
            if run.ok and run.still_improving:
                counts = result.still_improving.setdefault(sets.arm(run), {})
                counts[stage] = counts.get(stage, 0) + 1
    return result
