"""``fair_study.json`` of a fair study's sweep dir (``hydra/sweeper=fair``), read leniently as a
:class:`StudyPlan`: untrusted input, so a missing, unreadable or odd file gives ``None`` or a plan with fewer
fields (and the reason in ``problems``), never an exception."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from experiments.records.run_record import RunRecord

PLAN_FILE = "fair_study.json"


@dataclass
class PlanArm:
    """One arm as the sweeper planned it: its overrides, tuning curve, chosen grid point, edge flag."""

    setting: dict[str, str]
    curve: list[float | None] = field(default_factory=list)
    chosen: int | None = None
    at_edge: bool | None = None
    shared_point: int | None = None


@dataclass
class StudyPlan:
    """What the fair sweeper wrote about its study (every field optional in the file)."""

    path: str
    tuned_keys: list[str] = field(default_factory=list)
    grid: list[list[str]] = field(default_factory=list)  # each point: one value per tuned key
    metric: str = "val/acc_best"
    mode: str = "max"
    tuning_seeds: list[int] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    max_seeds: int | None = None
    sesoi: float | None = None
    arms: list[PlanArm] = field(default_factory=list)
    extra_rounds: list[list[int]] = field(default_factory=list)  # the arms given a seed, round by round
    problems: list[str] = field(default_factory=list)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _integers(value: object) -> list[int]:
    if not isinstance(value, list):
        return []
    return [int(v) for v in value if isinstance(v, int) and not isinstance(v, bool)]


def _index(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _arm(item: object) -> PlanArm | None:
    if not isinstance(item, dict):
        return None
    overrides = item.get("overrides")
    setting: dict[str, str] = {}
    for override in overrides if isinstance(overrides, list) else []:
        if isinstance(override, str) and "=" in override:
            key, value = override.split("=", 1)
            setting[key.lstrip("+~")] = value
    curve = item.get("curve")
    edge = item.get("at_edge")
    return PlanArm(
        setting,
        [_number(v) for v in curve] if isinstance(curve, list) else [],
        _index(item.get("chosen")),
        edge if isinstance(edge, bool) else None,
        _index(item.get("shared_point")),
    )


def read_plan(sweep_dir: str | Path) -> StudyPlan | None:
    """The plan in ``sweep_dir``; ``None`` where there is no such file, a plan with ``problems`` where it is
    not the JSON object the sweeper writes."""
    path = Path(sweep_dir) / PLAN_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError) as error:
        return StudyPlan(str(path), problems=[f"{path} cannot be read ({type(error).__name__}): ignored"])
    if not isinstance(data, dict):
        return StudyPlan(str(path), problems=[f"{path} is not a JSON object: ignored"])
    plan = StudyPlan(str(path))
    keys = data.get("tuned_keys")
    plan.tuned_keys = [str(k) for k in keys if isinstance(k, str)] if isinstance(keys, list) else []
    grid = data.get("grid")
    if isinstance(grid, list):
        plan.grid = [[str(v) for v in p] if isinstance(p, list) else [str(p)] for p in grid]
    if isinstance(data.get("metric"), str):
        plan.metric = data["metric"]
    if data.get("mode") in ("max", "min"):
        plan.mode = data["mode"]
    plan.tuning_seeds, plan.seeds = _integers(data.get("tuning_seeds")), _integers(data.get("seeds"))
    plan.max_seeds = _index(data.get("max_seeds"))
    plan.sesoi = _number(data.get("sesoi"))
    arms = data.get("arms")
    plan.arms = [a for a in (_arm(i) for i in arms) if a is not None] if isinstance(arms, list) else []
    rounds = data.get("extra_rounds")
    for item in rounds if isinstance(rounds, list) else []:
        if isinstance(item, dict):
            plan.extra_rounds.append(_integers(item.get("arms")))
    for arm in plan.arms:
        if arm.chosen is not None and plan.grid and arm.chosen >= len(plan.grid):
            plan.problems.append(f"{path}: an arm's chosen point {arm.chosen} is outside the grid: ignored")
            arm.chosen = None
    return plan


def plans_of(runs: Iterable[RunRecord]) -> list[StudyPlan]:
    """The plans of the sweep dirs the runs lie in (each dir once, in order)."""
    dirs = dict.fromkeys(str(Path(r.path).parent) for r in runs if r.path)
    return [plan for plan in (read_plan(d) for d in dirs) if plan is not None]
