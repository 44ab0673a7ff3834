"""A search's trials as a table, best first, and its legend (the Markdown, HTML and terminal writers')."""

from __future__ import annotations

from experiments.comparison.analysis.grouping import LABELS, value_of
from experiments.comparison.analysis.search import Search, fmt_value, trial_id
from experiments.comparison.report_model import Report
from experiments.comparison.writers.formatting import fmt_int, fmt_pct


def trial_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """The trials table, best first: the searched values, the objective, the test metrics and costs."""
    search = report.search
    assert search is not None
    m = report.metric
    header = ["trial", "", *search.keys, f"{LABELS.get(search.objective, search.objective)} % (objective)"]
    header += [f"{LABELS.get(k, k)} %" for k in dict.fromkeys((m, "test/f1_macro")) if k != search.objective]
    header += ["best epoch", "epochs", "params", "wall s", "status"]
    best = search.best
    rows = []
    for run in search.ranked:
        row = [trial_id(run), "★" if run is best else "", *(fmt_value(value_of(run, k)) for k in search.keys)]
        row.append(fmt_pct(search.score(run)))
        row += [fmt_pct(run.metric(k)) for k in dict.fromkeys((m, "test/f1_macro")) if k != search.objective]
        row += [
            "-" if run.best_epoch is None else str(run.best_epoch),
            "-" if run.epochs is None else str(run.epochs),
        ]
        row += [
            fmt_int(run.params_total),
            "-" if run.wall_time_s is None else f"{run.wall_time_s:,.1f}",
            run.status,
        ]
        rows.append(row)
    return header, rows


def search_legend(search: Search) -> str:
    label = LABELS.get(search.objective, search.objective)
    return (
        f"★ the best trial by {label} (the study's objective, {search.direction}d on validation data; the test "
        "set chose nothing). One row per trial, best first; each trial is one run with one seed, so no "
        "difference between trials is tested. Epochs are 1-based."
    )
