"""The sections a fair study adds to report.md and report.html (analysis.fair_study): the tuning curves and
choices, the shared setting against each arm's own best, and the stopping rule with where each arm stopped;
as titled prose and string tables, shared by the Markdown and HTML writers."""

from __future__ import annotations

from dataclasses import dataclass, field

from experiments.comparison.analysis.fair_changes import said
from experiments.comparison.analysis.fair_study import FairStudy
from experiments.comparison.analysis.grouping import LABELS

TUNING_TITLE = "Tuning: each arm's curve on validation"
SHARED_TITLE = "Shared setting against each arm's own best"
STOPPING_TITLE = "Stopping: when each arm stopped"


@dataclass
class FairPart:
    """One section: a title, paragraphs before its table, the table, paragraphs after it."""

    title: str
    before: list[str]
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


def _score(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    share = metric.split("/")[-1].startswith(("acc", "f1"))
    return f"{100 * value:.2f}" if share else f"{value:.4g}"


def tuning_part(study: FairStudy) -> FairPart | None:
    tuning = study.tuning
    if tuning is None:
        return None
    metric = LABELS.get(tuning.metric, tuning.metric)
    unit = " %" if tuning.metric.split("/")[-1].startswith(("acc", "f1")) else ""
    keys = ", ".join(tuning.keys)
    part = FairPart(
        TUNING_TITLE,
        [f"Every arm was trained at every point of the grid: {study.budget()} ({tuning.mode}). Each cell is the "
         f"mean {metric}{unit} of the tuning seeds (never test); `*` marks the arm's choice, the value its "
         f"evaluation jobs ran at."],
        ["arm", *(f"{keys}={v}" if len(tuning.keys) == 1 else v for v in tuning.values), "chosen", "at the edge"],
    )
    for arm in tuning.arms:
        cells = [_score(p.score, tuning.metric) + ("*" if p.value == arm.chosen else "") for p in arm.points]
        part.rows.append([arm.arm, *cells, arm.chosen or "-", "yes" if arm.at_edge else ""])
    warning = tuning.edge_warning()
    part.after.append(warning or "No arm's choice sits at an edge of the grid.")
    return part


def shared_part(study: FairStudy) -> FairPart:
    from experiments.comparison.analysis.metric_kind import metric_kind

    changes = study.changes
    kind = metric_kind(study.shared_effects.metric if study.shared_effects else "test/acc")
    unit = f" {kind.unit}" if kind.unit else ""
    part = FairPart(
        SHARED_TITLE,
        ["Each level against the reference, tested where it can act (cell-means model, 95% intervals, "
         "equivalence within ±SESOI by two one-sided tests): at each arm's own best setting (the headline) "
         "and at the shared setting (every arm at the config's own value of the tuned keys, what the study "
         "would have measured without tuning).", changes.summary()],
        ["factor", "level vs reference", "at each arm's own best", "at the shared setting", "conclusion"],
    )
    for row in changes.rows:
        part.rows.append([row.factor, f"{row.level} vs {row.reference}", said(row.best, unit), said(row.shared, unit),
                          "changes" if row.changed else "same"])
    if not changes.rows:
        part.header, part.rows = [], []
    return part


def _epochs(median: float | None, low: int | None, high: int | None) -> str:
    if median is None:
        return "-"
    return f"{median:g}" + (f" [{low}-{high}]" if low != high else "")


def stopping_part(study: FairStudy) -> FairPart | None:
    stopping = study.stopping
    if stopping is None:
        return None
    rule = stopping.rule.words() if stopping.rule else "not recorded"
    part = FairPart(
        STOPPING_TITLE,
        [f"The rule, the same for every arm: {rule}. The epoch each job stopped at (median [range] over the "
         f"seeds, 1-based) and what stopped it."],
        ["arm", "set", "jobs", "stopped at epoch", "by patience", "by budget", "still improving at the budget"],
    )
    for arm in stopping.arms:
        part.rows.append([arm.arm, arm.stage, str(arm.runs), _epochs(arm.epochs_median, arm.epochs_min, arm.epochs_max),
                          str(arm.by_patience), str(arm.by_budget), str(arm.still_improving)])
    part.after.append(stopping.warning() or "No job hit the epoch budget still improving.")
    return part


def fair_parts(study: FairStudy) -> list[FairPart]:
    """The fair study's sections, in the report's order; its notes close the last one."""
    parts = [p for p in (tuning_part(study), shared_part(study), stopping_part(study)) if p is not None]
    counts = study.counts
    parts[-1].after.append(
        f"Records: {counts.best} at each arm's own best (extra seeds included), {counts.shared} at the shared "
        f"setting, {counts.tune} tuning; a record that one stage reuses from another counts once in each set."
    )
    parts[-1].after += study.notes
    return parts
