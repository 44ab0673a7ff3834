"""``hydra/sweeper=fair``: the jobs of a hyperparameter-fair comparison, stage by stage (no Hydra, no torch).

A study names its arms (every combination of ``hydra.sweeper.params``, as a grid sweep) and a tuning space
(``hydra.sweeper.tune``: key -> values, by default the learning rate on a log grid). Three stages, each of
ordinary jobs, numbered so that a resumed sweep finds every job where it left it:

1. **tune**: every arm at every point of the tuning grid, on the tuning seeds only (the same budget and the
   same stopping rule for every arm); scored on validation (``metric``), never on test.
2. **best** and **shared**: every arm at its own chosen point on the evaluation seeds; and, with ``shared``,
   at the config's own setting (the value every arm would share without tuning) on the same seeds.
3. **extra seeds** (``max_seeds``): more seeds for the arms whose interval is still wider than
   ``compare.sesoi`` allows (:mod:`experiments.sweeps.adaptive_seeds`), one round at a time.

Job numbers: tuning jobs ``0 .. T-1`` (arm-major, then grid point, then tuning seed); best jobs
``T + arm * S + k``; shared jobs ``T + A*S + arm * S + k``; extra seed ``j`` of an arm
``T + 2*A*S + arm * X + j`` (``X = max_seeds - S``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

STAGE_KEY = "study.stage"
TUNED_KEY = "study.tuned"


@dataclass(frozen=True)
class FairSettings:
    """What ``hydra.sweeper`` of ``hydra/sweeper=fair`` says (see ``conf/hydra/sweeper/fair.yaml``)."""

    arms: list[list[str]]  # each arm's overrides (every combination of the params)
    tune: list[list[str]]  # each point of the tuning grid as overrides (every combination of ``tune``)
    tuned_keys: list[str]
    tuning_seeds: list[int]
    seeds: list[int]
    shared: bool = True
    metric: str = "val/acc_best"
    mode: str = "max"
    max_seeds: int | None = None
    fixed: list[str] = field(default_factory=list)  # the command line's other overrides, in every job

    @property
    def extra_per_arm(self) -> int:
        return max(0, (self.max_seeds or 0) - len(self.seeds))

    def extra_seeds(self) -> list[int]:
        """The seeds after ``seeds`` that adaptive rounds may add, in order (none taken by another stage)."""
        used = set(self.seeds) | set(self.tuning_seeds)
        extra: list[int] = []
        candidate = max(self.seeds, default=-1) + 1
        while len(extra) < self.extra_per_arm:
            if candidate not in used:
                extra.append(candidate)
            candidate += 1
        return extra


@dataclass(frozen=True)
class PlannedJob:
    number: int
    arm: int
    stage: str  # tune, best, shared
    overrides: list[str]
    point: int | None = None  # the tuning grid point (tune, best); None at the shared setting
    seed: int = 0


def _stage_overrides(settings: FairSettings, stage: str, seed: int) -> list[str]:
    return [f"seed={seed}", f"{STAGE_KEY}={stage}", f"{TUNED_KEY}=[{','.join(settings.tuned_keys)}]"]


def tuning_jobs(settings: FairSettings) -> list[PlannedJob]:
    """Stage 1: every arm at every grid point on every tuning seed."""
    jobs: list[PlannedJob] = []
    for arm, arm_overrides in enumerate(settings.arms):
        for point, point_overrides in enumerate(settings.tune):
            for seed in settings.tuning_seeds:
                overrides = [
                    *settings.fixed,
                    *arm_overrides,
                    *point_overrides,
                    *_stage_overrides(settings, "tune", seed),
                ]
                jobs.append(PlannedJob(len(jobs), arm, "tune", overrides, point, seed))
    return jobs


def evaluation_jobs(settings: FairSettings, chosen: Sequence[int]) -> list[PlannedJob]:
    """Stage 2: each arm at its chosen grid point (``chosen[arm]``) and, with ``shared``, at the config's own
    setting, on the evaluation seeds."""
    first = len(settings.arms) * len(settings.tune) * len(settings.tuning_seeds)
    per_stage = len(settings.arms) * len(settings.seeds)
    jobs: list[PlannedJob] = []
    for arm, arm_overrides in enumerate(settings.arms):
        for k, seed in enumerate(settings.seeds):
            number = first + arm * len(settings.seeds) + k
            overrides = [
                *settings.fixed,
                *arm_overrides,
                *settings.tune[chosen[arm]],
                *_stage_overrides(settings, "best", seed),
            ]
            jobs.append(PlannedJob(number, arm, "best", overrides, chosen[arm], seed))
    if settings.shared:
        for arm, arm_overrides in enumerate(settings.arms):
            for k, seed in enumerate(settings.seeds):
                number = first + per_stage + arm * len(settings.seeds) + k
                overrides = [*settings.fixed, *arm_overrides, *_stage_overrides(settings, "shared", seed)]
                jobs.append(PlannedJob(number, arm, "shared", overrides, None, seed))
    return jobs


def extra_seed_jobs(settings: FairSettings, chosen: Sequence[int], arms: Sequence[int], index: int) -> list[PlannedJob]:
    """Stage 3, one round: extra seed number ``index`` (0-based) for each of ``arms`` at its chosen point."""
    first = len(settings.arms) * (len(settings.tune) * len(settings.tuning_seeds) + 2 * len(settings.seeds))
    seed = settings.extra_seeds()[index]
    return [
        PlannedJob(
            first + arm * settings.extra_per_arm + index,
            arm,
            "best",
            [*settings.fixed, *settings.arms[arm], *settings.tune[chosen[arm]], *_stage_overrides(settings, "best", seed)],
            chosen[arm],
            seed,
        )
        for arm in arms
    ]


def planned_total(settings: FairSettings) -> int:
    """Jobs of stages 1 and 2 (extra seeds come on top, up to ``extra_per_arm`` per arm)."""
    arms = len(settings.arms)
    return arms * (len(settings.tune) * len(settings.tuning_seeds) + len(settings.seeds) * (2 if settings.shared else 1))


def choose_points(
    settings: FairSettings, scores: Mapping[int, float | None]
) -> tuple[list[int], list[list[float | None]]]:
    """Each arm's chosen grid point from the tuning jobs' scores (job number -> validation metric).

    An arm's score at a point is the mean over the tuning seeds of the jobs that ended with a finite score;
    the best mean wins (``mode``), ties going to the earlier point (the grid's order). An arm none of whose
    tuning jobs scored gets the first point and the sweep says so. Returns the choices and each arm's curve.
    """
    seeds = len(settings.tuning_seeds)
    choices: list[int] = []
    curves: list[list[float | None]] = []
    sign = 1.0 if settings.mode == "max" else -1.0
    for arm in range(len(settings.arms)):
        curve: list[float | None] = []
        for point in range(len(settings.tune)):
            first = (arm * len(settings.tune) + point) * seeds
            values = [scores.get(first + k) for k in range(seeds)]
            finite = [v for v in values if v is not None and math.isfinite(v)]
            curve.append(sum(finite) / len(finite) if finite else None)
        curves.append(curve)
        scored = [(sign * v, -point) for point, v in enumerate(curve) if v is not None]
        choices.append(-max(scored)[1] if scored else 0)
    return choices, curves


def at_edge(settings: FairSettings, point: int) -> bool:
    """Whether a chosen point sits at an end of a tuned key's grid (the best may lie beyond it)."""
    if not settings.tune or len(settings.tune) < 2:
        return False
    chosen = settings.tune[point]
    for index in range(len(settings.tuned_keys)):
        values = sorted({p[index] for p in settings.tune}, key=lambda o: _number(o.split("=", 1)[1]))
        if len(values) > 1 and chosen[index] in (values[0], values[-1]):
            return True
    return False


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def evaluation_identical(
    settings: FairSettings,
    jobs: Sequence[PlannedJob],
    arm_twin: Mapping[int, int],
    chosen: Sequence[int],
    shared_point: Mapping[int, int | None],
) -> dict[int, int]:
    """``{job: earlier job}`` among evaluation jobs: a twin arm's job on the same seed (the same network:
    ``arm_twin`` maps an arm to the earlier arm that builds the same one), or an arm's shared-setting job
    where its chosen point is the shared value (``shared_point[arm]``)."""
    by_key: dict[tuple[int, str, int], int] = {(j.arm, j.stage, j.seed): j.number for j in jobs}
    same: dict[int, int] = {}
    for job in jobs:
        twin = arm_twin.get(job.arm)
        if twin is not None and (twin, job.stage, job.seed) in by_key and chosen[twin] == chosen[job.arm]:
            same[job.number] = by_key[(twin, job.stage, job.seed)]
        elif job.stage == "shared" and shared_point.get(job.arm) == chosen[job.arm]:
            best = by_key.get((job.arm, "best", job.seed))
            if best is not None:
                same[job.number] = same.get(best, best)
    return same


def arm_twins(settings: FairSettings, tuning_identical: Mapping[int, int]) -> dict[int, int]:
    """``{arm: earlier arm}`` for arms whose tuning jobs are the same experiments as an earlier arm's."""
    per_arm = len(settings.tune) * len(settings.tuning_seeds)
    twins: dict[int, int] = {}
    for arm in range(len(settings.arms)):
        firsts = {tuning_identical.get(arm * per_arm + k) for k in range(per_arm)}
        if None not in firsts and per_arm:
            earlier = {number // per_arm for number in firsts if number is not None}
            if len(earlier) == 1:
                twins[arm] = earlier.pop()
    return twins
