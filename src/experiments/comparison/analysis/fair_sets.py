"""A fair study's records split into its analysis sets (docs/fair_comparisons.md).

The fair sweeper marks each job with its stage (``study_stage``: ``tune``, ``best``, ``shared``) and the keys
it tunes (``tuned_keys``). Neither the stage, the tuned keys nor the seed is a factor: the arms are the other
swept keys. ``best`` (each arm at its own chosen setting, extra seeds included) is the headline; ``shared``
(every arm at the config's own setting) is what the study would have measured without tuning; ``tune``
records feed the tuning curves only. A record that another stage reuses counts once in each set it is in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from experiments.comparison.analysis.grouping import value_of, varying_keys
from experiments.comparison.sources.study_plan import StudyPlan
from experiments.records.run_record import RunRecord

TUNE, BEST, SHARED = "tune", "best", "shared"
STAGES = (TUNE, BEST, SHARED)
#: Keys of a fair study that are never factors (besides the tuned keys and the usual ignored ones).
STUDY_KEYS = ("study", "study_stage")
SUPERSEDED = ".superseded-"


def stage_of(run: RunRecord) -> str | None:
    """The run's stage of a fair study (from its record, else its overrides, else a runs.csv column)."""
    overrides = run.override_values
    stage = run.study_stage or overrides.get("study.stage") or overrides.get("study_stage")
    return stage if stage in STAGES else None


def is_fair_study(runs: Iterable[RunRecord]) -> bool:
    return any(stage_of(r) is not None for r in runs)


def _listed(text: str) -> list[str]:
    return [k.strip() for k in text.strip().strip("[]").split(",") if k.strip()]


def tuned_keys_of(runs: Sequence[RunRecord], plans: Sequence[StudyPlan] = ()) -> list[str]:
    """The tuned keys, in the order the records (then the plans) name them."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.tuned_keys if k not in keys]
        keys += [k for k in _listed(run.override_values.get("study.tuned", "")) if k not in keys]
    for plan in plans:
        keys += [k for k in plan.tuned_keys if k not in keys]
    return keys


@dataclass
class FairSets:
    """The records of a fair study by analysis set, and the keys that make the arms."""

    keys: list[str]  # the arms' keys
    tuned_keys: list[str]
    best: list[RunRecord] = field(default_factory=list)
    shared: list[RunRecord] = field(default_factory=list)
    tune: list[RunRecord] = field(default_factory=list)
    outside: list[RunRecord] = field(default_factory=list)  # records without a stage (not analysed)
    superseded: int = 0  # job dirs a resumed study moved aside (left out)

    def arm(self, run: RunRecord) -> str:
        return arm_label(run, self.keys)


def arm_label(run: RunRecord, keys: Sequence[str]) -> str:
    return ",".join(f"{k}={value_of(run, k)}" for k in keys) or "all runs"


def tuned_value(run: RunRecord, tuned_keys: Sequence[str]) -> str:
    """The run's point of the tuning grid: ``0.001``, or ``optimizer.lr=0.001, model.dropout=0.5``."""
    if len(tuned_keys) == 1:
        return value_of(run, tuned_keys[0])
    return ", ".join(f"{k}={value_of(run, k)}" for k in tuned_keys)


def split_sets(runs: Sequence[RunRecord], ignored: Sequence[str], plans: Sequence[StudyPlan] = ()) -> FairSets:
    """The analysis sets of a fair study's runs; the arms are the swept keys but the study's own."""
    kept = [r for r in runs if SUPERSEDED not in r.path.rsplit("/", 1)[-1]]
    tuned = tuned_keys_of(kept, plans)
    staged = [r for r in kept if stage_of(r) is not None]
    keys = varying_keys(staged, (*ignored, *STUDY_KEYS, *tuned))
    sets = FairSets(keys, tuned, superseded=len(runs) - len(kept))
    for run in kept:
        stage = stage_of(run)
        {TUNE: sets.tune, BEST: sets.best, SHARED: sets.shared}.get(stage or "", sets.outside).append(run)
    return sets
