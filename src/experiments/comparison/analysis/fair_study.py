"""What a fair study adds to a report (docs/fair_comparisons.md): the analysis sets, the tuning section, the
stopping section, the effects at the shared setting beside those at each arm's own best, and the answer
first, which says it is at each arm's tuned setting and names the tuning budget."""

from __future__ import annotations

from dataclasses import dataclass, field

from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.analysis.fair_changes import Changes
from experiments.comparison.analysis.fair_sets import FairSets
from experiments.comparison.analysis.fair_stopping import Stopping
from experiments.comparison.analysis.fair_tuning import Tuning


@dataclass
class SetCounts:
    """Records per analysis set (a record reused by another stage counts in each of its sets)."""

    best: int
    shared: int
    tune: int
    outside: int = 0
    superseded: int = 0


@dataclass
class FairStudy:
    keys: list[str]  # the arms' keys
    tuned_keys: list[str]
    counts: SetCounts
    tuning: Tuning | None = None
    stopping: Stopping | None = None
    shared_effects: Effects | None = None  # the effects at the shared setting (the headline's are Report.effects)
    changes: Changes = field(default_factory=Changes)
    notes: list[str] = field(default_factory=list)

    def budget(self) -> str:
        """``optimizer.lr tuned over 4 values (0.0003 to 0.01), 1 tuning seed each, the same for every arm``."""
        keys = ", ".join(f"`{k}`" for k in self.tuned_keys) or "nothing"
        tuning = self.tuning
        if tuning is None:
            return f"{keys} tuned"
        span = f"{tuning.values[0]} to {tuning.values[-1]}" if len(tuning.values) > 1 else tuning.values[0]
        seeds = f", {tuning.tuning_seeds} tuning seed{'s' if tuning.tuning_seeds != 1 else ''} each" if tuning.tuning_seeds else ""
        return (f"{keys} tuned over {len(tuning.values)} value{'s' if len(tuning.values) != 1 else ''} ({span})"
                f"{seeds}, the same budget for every arm, chosen on `{tuning.metric}`")

    def warnings(self) -> list[str]:
        found = [self.tuning.edge_warning() if self.tuning else "", self.stopping.warning() if self.stopping else ""]
        return [w for w in found if w]


def fair_sets_counts(sets: FairSets) -> SetCounts:
    return SetCounts(len(sets.best), len(sets.shared), len(sets.tune), len(sets.outside), sets.superseded)


def fair_answer(study: FairStudy, headline: list[str]) -> list[str]:
    """The answer first for a fair study: the setting it is at, then the headline's sentences, then what the
    shared setting changes and the warnings."""
    setting = f"At each arm's own tuned setting ({study.budget()}):" if study.tuned_keys else (
        "At the config's own setting (no tuning stage; the same stopping rule for every arm):")
    lines = [setting, *headline]
    if not headline:
        lines.append("The effects cannot be tested at the arms' own settings (too few seeds or cells).")
    if study.changes.testable:
        changed = study.changes.sentences
        lines.append(
            f"At the shared setting {len(changed)} conclusion{'s' if len(changed) != 1 else ''} change"
            f"{'s' if len(changed) == 1 else ''} (the section \"Shared setting against each arm's own best\")."
            if changed else "At the shared setting no conclusion changes."
        )
    lines += study.warnings()
    return lines
