"""The tuning section of a fair study: each arm's tuning curve (the validation metric against the tuned
value), its chosen value, and the arms whose choice sits at an edge of the grid (the best may lie beyond).

The curves come from the ``tune`` records (mean over the tuning seeds); ``fair_study.json`` fills in an arm
without such records and is cross-checked where both exist (a disagreement is a note, the records win)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from experiments.comparison.analysis.fair_sets import FairSets, tuned_value
from experiments.comparison.analysis.grouping import value_of
from experiments.comparison.sources.study_plan import PlanArm, StudyPlan


@dataclass
class TuningPoint:
    value: str  # the tuned value (or ``k=v, k=v`` for several tuned keys)
    score: float | None  # mean of the metric over the tuning seeds (as recorded: a share for accuracies)
    runs: int  # tuning jobs with a score
    source: str = "records"  # records or fair_study.json


@dataclass
class ArmTuning:
    arm: str
    points: list[TuningPoint]
    chosen: str | None  # the value its best-stage jobs ran at
    at_edge: bool = False


@dataclass
class Tuning:
    keys: list[str]
    metric: str
    mode: str
    values: list[str]  # the grid, in order
    arms: list[ArmTuning]
    tuning_seeds: int = 0  # per grid point
    log_x: bool = False  # a positive numeric grid spanning a factor of 10 or more (a learning rate)
    notes: list[str] = field(default_factory=list)

    @property
    def edge_arms(self) -> list[ArmTuning]:
        return [a for a in self.arms if a.at_edge]

    def edge_warning(self) -> str:
        arms = self.edge_arms
        if not arms:
            return ""
        names = ", ".join(f"`{a.arm}` ({a.chosen})" for a in arms)
        return (
            f"At the edge of the tuning grid: {names}: the best value may lie beyond the grid; "
            f"extend `hydra.sweeper.tune` past it before trusting that arm's number."
        )


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _ordered(values: Sequence[str]) -> list[str]:
    numbers = [_float(v) for v in values]
    if values and all(n is not None for n in numbers):
        return [v for _, v in sorted(zip(numbers, values), key=lambda p: p[0])]  # type: ignore[arg-type,return-value]
    return list(values)


def _grid(sets: FairSets, plan: StudyPlan | None) -> list[str]:
    if plan and plan.grid and all(len(p) == len(sets.tuned_keys) for p in plan.grid):
        return [p[0] if len(p) == 1 else ", ".join(f"{k}={v}" for k, v in zip(sets.tuned_keys, p)) for p in plan.grid]
    found = list(dict.fromkeys(tuned_value(r, sets.tuned_keys) for r in sets.tune))
    return _ordered(found) if len(sets.tuned_keys) == 1 else found


def _plan_arm(setting: dict[str, str], plan: StudyPlan | None) -> PlanArm | None:
    for arm in plan.arms if plan else []:
        shared = [k for k in arm.setting if k in setting]
        if shared and all(setting[k] == arm.setting[k] for k in shared):
            return arm
    return None


def _at_edge(chosen: str | None, sets: FairSets, values: Sequence[str]) -> bool:
    """Whether the chosen point is at an end of any tuned key's values (the sweeper's rule)."""
    if chosen is None or len(values) < 2:
        return False
    if len(sets.tuned_keys) == 1:
        ordered = _ordered(values)
        return chosen in (ordered[0], ordered[-1])
    points = [dict(part.split("=", 1) for part in v.split(", ") if "=" in part) for v in values]
    mine = dict(part.split("=", 1) for part in chosen.split(", ") if "=" in part)
    for key in sets.tuned_keys:
        ordered = _ordered(list(dict.fromkeys(p.get(key, "") for p in points)))
        if len(ordered) > 1 and mine.get(key) in (ordered[0], ordered[-1]):
            return True
    return False


def tuning(sets: FairSets, plan: StudyPlan | None = None, metric: str | None = None) -> Tuning | None:
    """Each arm's tuning curve and choice; ``None`` where nothing was tuned."""
    metric = metric or (plan.metric if plan else "val/acc_best")
    values = _grid(sets, plan)
    if not sets.tuned_keys or not values:
        return None
    result = Tuning(list(sets.tuned_keys), metric, plan.mode if plan else "max", values, [])
    seeds = {r.seed for r in sets.tune if r.seed is not None}
    result.tuning_seeds = len(seeds) or len(plan.tuning_seeds if plan else [])
    arms = list(dict.fromkeys(sets.arm(r) for r in [*sets.tune, *sets.best, *sets.shared]))
    for arm in arms:
        runs = [r for r in sets.tune if sets.arm(r) == arm]
        example = next(r for r in [*sets.tune, *sets.best, *sets.shared] if sets.arm(r) == arm)
        planned = _plan_arm({k: value_of(example, k) for k in sets.keys}, plan)
        points = []
        for index, value in enumerate(values):
            scores = [s for r in runs if r.ok and tuned_value(r, sets.tuned_keys) == value
                      if (s := r.metric(metric)) is not None]
            from_plan = planned.curve[index] if planned and index < len(planned.curve) else None
            if scores:
                mean = sum(scores) / len(scores)
                if from_plan is not None and abs(from_plan - mean) > 1e-6:
                    result.notes.append(f"`{arm}` at {value}: the records give {mean:.4f}, fair_study.json "
                                        f"{from_plan:.4f}; the records are used.")
                points.append(TuningPoint(value, mean, len(scores)))
            else:
                points.append(TuningPoint(value, from_plan, 0, "fair_study.json" if from_plan is not None else "none"))
        ran = list(dict.fromkeys(tuned_value(r, sets.tuned_keys) for r in sets.best if sets.arm(r) == arm))
        chosen = ran[0] if len(ran) == 1 else None
        if len(ran) > 1:
            result.notes.append(f"`{arm}`'s best-stage jobs ran at several tuned values ({', '.join(ran)}).")
        by_plan = values[planned.chosen] if planned and planned.chosen is not None and planned.chosen < len(values) else None
        if chosen is None:
            chosen = by_plan
        elif by_plan is not None and by_plan != chosen:
            result.notes.append(f"`{arm}`: fair_study.json names {by_plan} as its choice, its jobs ran at {chosen}.")
        edge = _at_edge(chosen, sets, values)
        if planned and planned.at_edge is not None and planned.at_edge != edge:
            result.notes.append(f"`{arm}`: fair_study.json says the choice is {'' if planned.at_edge else 'not '}"
                                f"at the edge of the grid; the grid says {'' if edge else 'not '}at the edge.")
        result.arms.append(ArmTuning(arm, points, chosen, edge))
    numbers = [_float(v) for v in values] if len(sets.tuned_keys) == 1 else []
    positive = [n for n in numbers if n is not None and n > 0]
    result.log_x = bool(numbers) and len(positive) == len(numbers) and max(positive) / min(positive) >= 10
    return result
