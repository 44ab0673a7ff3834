"""``hydra.sweeper`` of ``hydra/sweeper=fair`` and the command line's overrides -> :class:`FairSettings`.

Refused up front (``ConfigError``, nothing started): a ``seed`` among the arms (the sweeper owns the seeds),
a tuned key that is also an arm, an arm that changes the stopping rule (``trainer.max_epochs``, ``callbacks``:
the rule must be the same for every arm), a tuning seed that is also an evaluation seed, a test metric as the
tuning score (choices are made on validation, never on test), ``max_seeds`` below the evaluation seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiments.config import ConfigError
from experiments.config.limits import whole
from experiments.sweeps.fair_plan import STAGE_KEY, TUNED_KEY, FairSettings

# Keys an arm may not vary: what stops a job is the same for every arm.
STOPPING_KEYS = ("trainer.max_epochs", "trainer.min_epochs", "trainer.max_steps", "trainer.max_time", "callbacks")


def is_fair(sweeper: Mapping[str, Any]) -> bool:
    return str(sweeper.get("_target_", "")).endswith("FairSweeper")


def fair_settings(sweeper: Mapping[str, Any], task_overrides: Sequence[str]) -> FairSettings:
    """The arms (``params`` and the command line's sweeps), the tuning grid and the seeds; refuses what would
    make the comparison unfair."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    given = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    given += [o for o in task_overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    # As the grid sweeper: a key on the command line replaces the preset's (``activation=relu`` narrows it).
    latest = {o.get_key_element().lstrip("+~"): o for o in parser.parse_overrides(given)}
    parsed = list(latest.values())
    for override in parsed:
        key = override.get_key_element().lstrip("+~")
        if key == "seed":
            raise ConfigError(
                "seed",
                "hydra/sweeper=fair owns the seeds: set hydra.sweeper.seeds (evaluation) and "
                "hydra.sweeper.tuning_seeds instead",
            )
        if key.startswith("study."):
            raise ConfigError(key, "is set by hydra/sweeper=fair on each of its jobs")
        if override.is_sweep_override() and key.startswith(STOPPING_KEYS):
            raise ConfigError(key, "may not differ between arms: every arm trains to the same stopping rule")
    sweeps = [o for o in parsed if o.is_sweep_override()]
    arms = [list(job) for batch in BasicSweeper.split_arguments(sweeps, None) for job in batch] if sweeps else [[]]
    fixed = [o.input_line for o in parsed if not o.is_sweep_override() and o.input_line]
    tune = sweeper.get("tune") or {}
    arm_keys = {o.get_key_element().lstrip("+~") for o in parsed}
    for key in tune:
        if key in arm_keys:
            raise ConfigError(f"hydra.sweeper.tune.{key}", "is also an arm of the study; tune it or compare it")
        if key == "seed" or key.startswith(STOPPING_KEYS):
            raise ConfigError(f"hydra.sweeper.tune.{key}", "cannot be tuned (seeds and the stopping rule are fixed)")
    points = (
        [list(p) for b in BasicSweeper.split_arguments(parser.parse_overrides([f"{k}={v}" for k, v in tune.items()]), None) for p in b]
        if tune
        else [[]]
    )
    seeds = _seeds(sweeper.get("seeds"), "seeds")
    tuning_seeds = _seeds(sweeper.get("tuning_seeds"), "tuning_seeds") if tune else []
    if set(seeds) & set(tuning_seeds):
        raise ConfigError(
            "hydra.sweeper.tuning_seeds",
            f"share {sorted(set(seeds) & set(tuning_seeds))} with hydra.sweeper.seeds: the tuning stage needs "
            "seeds of its own, or the evaluation re-measures the runs its choice was fitted to",
        )
    metric = str(sweeper.get("metric") or "val/acc_best")
    if not metric.startswith("val/"):
        raise ConfigError("hydra.sweeper.metric", f"is {metric}: the tuning stage is scored on validation (val/...)")
    mode = str(sweeper.get("mode") or "max")
    if mode not in ("max", "min"):
        raise ConfigError("hydra.sweeper.mode", "must be max or min")
    max_seeds = sweeper.get("max_seeds")
    if max_seeds is not None and not whole(max_seeds, len(seeds)):
        raise ConfigError("hydra.sweeper.max_seeds", f"must be null (off) or a whole number >= the {len(seeds)} seeds")
    return FairSettings(
        arms=arms,
        tune=points,
        tuned_keys=list(tune),
        tuning_seeds=tuning_seeds,
        seeds=seeds,
        shared=bool(sweeper.get("shared", True)) and bool(tune),
        metric=metric,
        mode=mode,
        max_seeds=max_seeds,
        fixed=fixed,
    )


def _seeds(value: Any, key: str) -> list[int]:
    from experiments.config.limits import SEED_MAX

    values = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if not values or any(not whole(s, 0) or s > SEED_MAX for s in values):
        raise ConfigError(f"hydra.sweeper.{key}", f"must be a non-empty list of seeds in [0, {SEED_MAX}], e.g. [0, 1, 2]")
    if len(set(values)) != len(values):
        raise ConfigError(f"hydra.sweeper.{key}", "holds a seed twice")
    return values


__all__ = ["STAGE_KEY", "TUNED_KEY", "fair_settings", "is_fair"]
