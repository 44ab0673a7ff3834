"""Hyperparameter searches (Optuna trials): found, and listed trial by trial instead of grouped.

A search samples its parameters: a learning rate takes a new value in every trial, so grouping by it
would make one group per float, each of one run. A search is compared as trials instead: one row each,
ranked by the study's objective (a validation metric), with the searched values as columns. Trials
differ in several settings at once and have one seed each, so no difference between them is tested.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.comparison.analysis.grouping import (
    IGNORED_KEYS,
    LABELS,
    METRICS,
    Group,
    value_of,
    varying_keys,
)
from experiments.comparison.analysis.seed_stats import seed_stats
from experiments.records.run_record import RunRecord, number

#: The file the Optuna sweeper writes into the sweep dir when the study ends.
STUDY_FILE = "optimization_results.yaml"


@dataclass
class Search:
    """The trials of one search and what it optimised."""

    objective: str  # the metric the trials were ranked by: the job's optimized_metric at its best epoch
    direction: str  # maximize or minimize
    keys: list[str]  # the searched settings
    trials: list[RunRecord]  # in trial order
    # optimization_results.yaml as the sweeper wrote it (copied into summary.json as it is), where written
    study: dict[str, Any] = field(default_factory=dict)

    def score(self, run: RunRecord) -> float | None:
        return run.metric(self.objective) if run.ok else None

    @property
    def ranked(self) -> list[RunRecord]:
        """Finished trials best first by the objective, then the others in trial order."""
        scored = [r for r in self.trials if self.score(r) is not None]
        scored.sort(key=lambda r: self.score(r) or 0.0, reverse=self.direction != "minimize")
        return scored + [r for r in self.trials if self.score(r) is None]

    @property
    def best(self) -> RunRecord | None:
        ranked = self.ranked
        return ranked[0] if ranked and self.score(ranked[0]) is not None else None


def trial_id(run: RunRecord) -> str:
    """A trial's number: its job dir's name in the sweep (``3``), else its name."""
    name = Path(run.path).name
    return name if name.isdigit() else run.name


def _continuous(runs: Sequence[RunRecord], key: str) -> bool:
    """Numbers, not all whole, a different one in every run: a sampled value, not a grid's level."""
    values = [value_of(r, key) for r in runs]
    floats = [number(v) for v in values]
    if len(runs) < 3 or any(f is None for f in floats):
        return False
    return len(set(values)) == len(values) and any(f != int(f) for f in floats if f is not None)


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        content = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def find_search(runs: Sequence[RunRecord], ignore: Sequence[str] = IGNORED_KEYS) -> Search | None:
    """The runs as a search, where they are one: ``hparams_search=...`` (Optuna), a study file beside
    the trials, or a setting that takes a different non-integer value in every run; else ``None``."""
    flagged = any(
        str(r.override_values.get("hparams_search") or r.choices.get("hparams_search") or "none")
        not in ("none", "null")
        for r in runs
    )
    dirs = {Path(r.path).parent for r in runs}
    study = next((s for s in (_yaml(d / STUDY_FILE) for d in dirs) if s), {})
    keys = [k for k in varying_keys(runs, (*ignore, "hparams_search")) if k != "trial"]
    if not (flagged or study or any(_continuous(runs, k) for k in keys)):
        return None
    configured = next(
        (r.config.get("optimized_metric") for r in runs if r.config.get("optimized_metric")), None
    )
    base = str(configured or "val/acc")
    objective = base if base.endswith("_best") else f"{base}_best"
    if not any(r.metric(objective) is not None for r in runs):
        objective = base
    direction = next((d for d in (_direction(r) for r in runs) if d), "maximize")
    return Search(objective, direction, keys, list(runs), study)


def _direction(run: RunRecord) -> str | None:
    sweeper = (_yaml(Path(run.path) / ".hydra" / "hydra.yaml").get("hydra") or {}).get("sweeper") or {}
    direction = sweeper.get("direction") if isinstance(sweeper, dict) else None
    return direction if direction in ("maximize", "minimize") else None


def trial_groups(search: Search, metric: str) -> list[Group]:
    """One group per trial, in trial order; the best trial by the objective is the best group."""
    groups = []
    best = search.best
    for run in search.trials:
        group = Group((("trial", trial_id(run)),), [run], is_best=run is best)
        group.stats = {
            m: seed_stats(group.values(m)) for m in dict.fromkeys((metric, search.objective, *METRICS))
        }
        groups.append(group)
    return groups


def fmt_value(value: str) -> str:
    """A searched value, short: ``0.0012520653814999472`` -> ``0.001252``; text stays as it is."""
    f = number(value)
    if f is None or ("." not in value and "e" not in value.lower()):
        return value
    return f"{f:.4g}"


def search_insights(search: Search, metric: str, classes: int | None) -> list[str]:
    """Sentences for a search: its size, the best trial with its settings and test score, the caveats."""
    label, mlabel = LABELS.get(search.objective, search.objective), LABELS.get(metric, metric)
    finished = [r for r in search.trials if r.ok]
    keys = ", ".join(f"`{k}`" for k in search.keys) or "(nothing varies)"
    lines = [
        f"{len(search.trials)} trials of a search over {keys} ({len(finished)} finished), ranked by {label} "
        f"({search.direction}d), as the study ranked them."
    ]
    failed = len(search.trials) - len(finished)
    if failed:
        lines.append(f"{failed} of the trials did not finish; they are listed below and ranked last.")
    best = search.best
    if best is None:
        return [*lines, f"No trial has a {label}; there is nothing to rank."]
    settings = ", ".join(f"`{k}={fmt_value(value_of(best, k))}`" for k in search.keys)
    test = best.metric(metric)
    text = (
        f"Trial {trial_id(best)} ranks first by {label}: {100 * (search.score(best) or 0):.2f}% ({settings})"
    )
    if test is not None and metric != search.objective:
        text += f"; its {mlabel} is {100 * test:.2f}%, the number to report, since the test set chose nothing"
    lines.append(text + ".")
    scores = [s for s in (search.score(r) for r in finished) if s is not None]
    if len(scores) > 1:
        close = [r for r in finished if abs((search.score(r) or 0) - (search.score(best) or 0)) < 0.005]
        lines.append(
            f"{label.capitalize()} ranges from {100 * min(scores):.2f}% to {100 * max(scores):.2f}% across trials. "
            "Each trial is one run with one seed and the trials differ in several settings at once, so "
            "the ranking of close trials may be noise and no effect of a single setting is claimed"
            + (f" ({len(close)} trials are within 0.5 points of the best)" if len(close) > 1 else "")
            + ". Rerun the best settings with several seeds before relying on them."
        )
    if classes:
        low = [r for r in finished if (r.metric(metric) or 1.0) <= 1.5 / classes]
        if low:
            ids = ", ".join(trial_id(r) for r in low)
            lines.append(
                f"{'Trial' if len(low) == 1 else 'Trials'} {ids} collapsed: {mlabel} within 1.5x of chance ({100 / classes:.2f}% for {classes} classes)."
            )
    value = number(search.study.get("best_value"))
    if value is not None and not math.isclose(value, search.score(best) or math.nan, rel_tol=1e-6):
        lines.append(
            f"The study's own best value ({STUDY_FILE}) is {value:.4f}; it counts trials not found here."
        )
    epochs = {r.epochs for r in finished if r.epochs}
    if epochs and max(epochs) <= 3:
        lines.append(
            f"Every trial trained for {_epochs(max(epochs))} at most: the search ranks early training, and "
            "settings that learn slowly (a small learning rate) are at a disadvantage."
        )
    return lines


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")
