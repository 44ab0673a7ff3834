"""The report's tables and context lines as strings, shared by the terminal, Markdown, HTML and CSV."""

from __future__ import annotations

import math
from typing import Any

from experiments.comparison.analysis.grouping import LABELS, METRICS, value_of
from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.comparison.analysis.settling import Settling
from experiments.comparison.report_model import Report
from experiments.comparison.writers.formatting import (
    MARK_BEST,
    MARK_TIED,
    MARK_UNTESTED,
    MARK_WORSE,
    best_epochs,
    fmt_big,
    fmt_diff,
    fmt_float,
    fmt_int,
    fmt_signed,
    fmt_stats,
    mark,
)
from experiments.records.runs_csv import LEADING_COLUMNS, TRAILING_COLUMNS

RUN_METRICS = (
    "test/acc",
    "test/f1_macro",
    "test/acc_top5",
    "test/loss",
    "val/acc_best",
    "val/acc",
    "val/loss",
)


def table_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """The group table, one row per group, as strings (shared by rich, Markdown and HTML)."""
    m = report.metric
    kind = metric_kind(m)
    unit = f"{kind.unit}, " if kind.unit else ""
    header = [
        "group",
        "runs",
        f"{kind.label}{kind.percent} (mean ± std [95% CI]){kind.direction}",
        f"Δ vs best ({unit}adj. p)",
        "",
        *(f"{LABELS.get(k, k)} %" for k in METRICS if k != m),
        "best epoch",
        "params",
        "FLOPs",
        "train img/s",
        "wall s",
    ]
    rows = []
    for g in report.groups:
        rows.append(
            [
                g.label,
                f"{len(g.ok_runs)}/{len(g.runs)}",
                fmt_stats(g.stats.get(m), kind=kind),
                fmt_diff(g, kind),
                mark(g),
                *(fmt_stats(g.stats.get(k), ci=False) for k in METRICS if k != m),
                best_epochs(g),
                fmt_int(g.first("params_total")),
                fmt_big(g.first("flops")),
                fmt_float(g.attribute("images_per_s"), 0),
                fmt_float(g.attribute("wall_time_s"), 1),
            ]
        )
    return header, rows


def legend(report: Report) -> str:
    kind = metric_kind(report.metric)
    return (
        f"{MARK_BEST} best mean {kind.label}{kind.direction}; {MARK_WORSE} {kind.worse_word} than the best "
        f"({report.test_name}, Holm-adjusted p < {report.alpha}); {MARK_TIED} cannot be told apart from the best "
        f"with these seeds; {MARK_UNTESTED} too few finished seeds to test; = a copy of another group (the same "
        f"networks and seeds: shown, never counted as seeds or tested). Intervals are t-intervals over seeds, "
        + ("clipped to [0, 100] (summary.json has them unclipped)" if kind.fraction else "in the metric's own unit")
        + ". Best epoch is 1-based, one per seed."
    )


def failed_rows(report: Report) -> list[list[str]]:
    return [[r.name, r.status, r.error or "", r.path] for r in report.failed]


def comparison_rows(report: Report) -> list[list[str]]:
    kind = metric_kind(report.metric)
    rows = []
    for g in report.groups:
        c = g.comparison
        if g.copy_of:
            rows.append([g.label, "-", "-", "-", "-", f"= copy of {g.copy_of}"])
            continue
        if g.is_best or c is None:
            continue
        ci = "-" if math.isnan(c.low) else f"[{fmt_signed(c.low, kind)}, {fmt_signed(c.high, kind)}]"
        p = "-" if math.isnan(c.p) else f"{c.p:.3g}"
        p_adj = "-" if math.isnan(c.p_adjusted) else f"{c.p_adjusted:.3g}"
        verdict = {None: "too few seeds", True: kind.worse_word, False: "cannot tell apart"}[c.distinguishable]
        rows.append([g.label, fmt_signed(c.diff, kind), ci, p, p_adj, verdict])
    return rows


COMPARISON_HEADER = ["group", "Δ vs best (points)", "95% CI of Δ", "p", "Holm-adjusted p", "verdict"]


def comparison_header(report: Report) -> list[str]:
    """:data:`COMPARISON_HEADER` in the metric's unit (a raw metric's Δ has none)."""
    kind = metric_kind(report.metric)
    delta = f"Δ vs best ({kind.unit})" if kind.unit else "Δ vs best"
    return ["group", delta + kind.direction, *COMPARISON_HEADER[2:]]
FAILED_HEADER = ["run", "status", "error", "path"]
PLOT_TITLES = {
    "curves": "Validation accuracy (%) and loss per epoch (mean ± 1 std over seeds)",
    "final": "Final test accuracy (%) with 95% confidence intervals",
    "params": "Test accuracy (%) against parameters",
    "time": "Test accuracy (%) against wall time",
    "confusion": "Confusion matrix of the best run, chosen by validation accuracy (not test)",
    "history": "The search's objective per trial, with the best so far",
    "settings": "The search's objective against each searched setting",
}


def plot_titles(report: Report) -> dict[str, str]:
    """Captions of every plot of the report, the effects' plots included, in the report's metric."""
    kind = metric_kind(report.metric)
    label = kind.label
    unit = (" (%)" if kind.fraction else "") + kind.direction
    titles = {k: v.replace("Test accuracy (%)", label.capitalize() + unit) for k, v in PLOT_TITLES.items()}
    titles["final"] = f"Final {label}{unit} with 95% confidence intervals"
    from experiments.comparison.writers.group_plots import confusion_choice

    choice = confusion_choice(report.groups)
    if choice:
        chooser = LABELS.get(choice[1], choice[1])
        titles["confusion"] = (
            f"Confusion matrix of {choice[0].name}, the run with the highest {chooser} (not test)"
        )
    if not any(len(g.ok_runs) > 1 for g in report.groups):
        one = "trial" if report.search else "group"
        titles["curves"] = f"Validation accuracy (%) and loss per epoch (one run per {one})"
    if report.fair and report.fair.tuning:
        from experiments.comparison.writers.fair_plots import PLOT_NAME, tuning_title

        titles[PLOT_NAME] = tuning_title(report.fair.tuning)
    if not report.effects:
        return titles
    from experiments.comparison.writers.effects_plots import plot_titles as effects_titles

    return {**titles, **effects_titles(report.effects)}


def context_lines(report: Report) -> list[str]:
    lines = [
        f"- Runs: {len(report.runs)} ({len(report.runs) - len(report.failed)} finished, {len(report.failed)} not)"
    ]
    keys = ", ".join(f"`{k}`" for k in report.keys) or "(nothing varies)"
    if report.search:
        objective = LABELS.get(report.search.objective, report.search.objective)
        lines.append(f"- Search over: {keys}; one row per trial, ranked by {objective} (the objective)")
    else:
        lines.append(f"- Grouped by: {keys}; seeds are repeats")
    constants = report.constants()
    if constants:
        lines.append("- Shared settings: " + ", ".join(f"`{k}={v}`" for k, v in constants.items()))
    sweeps = sorted({r.group for r in report.runs if r.group})
    if sweeps:
        lines.append("- Sweep: " + ", ".join(f"`{s}`" for s in sweeps))
    for url in report.wandb_groups():
        lines.append(f"- W&B group: [{url}]({url})")
    offline = report.offline_wandb()
    if offline:
        lines.append(
            f"- W&B: {offline} run(s) are offline only (upload them with `wandb sync RUN_DIR/wandb/offline-run-*`)"
        )
    lines.append(f"- Made with: `{report.command}`")
    return lines


def runs_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    # a fair study's stage (tune, best or shared) and the tuned keys' values
    stage = ["study_stage", *report.fair.tuned_keys] if report.fair else []
    # the primary metric where it is none of the usual ones, and every probe metric (probes/): a report's
    # runs.csv is read back as records (experiments compare <report>/runs.csv) with them
    extra = sorted(({report.metric} | {m for r in report.runs for m in r.metrics if m.startswith("probe/")}) - set(RUN_METRICS))
    header = [*LEADING_COLUMNS, *stage, *report.keys, *RUN_METRICS, *extra, *TRAILING_COLUMNS]
    group_of = {id(r): g.label for g in report.groups for r in g.runs}
    rows = []
    for run in report.runs:
        row: list[Any] = [run.name, group_of.get(id(run), ""), run.status, run.error or "", run.seed]
        if report.fair:
            from experiments.comparison.analysis.fair_sets import stage_of

            row += [stage_of(run) or "", *(value_of(run, k) for k in report.fair.tuned_keys)]
        row += [value_of(run, k) for k in report.keys]
        row += [run.metric(m) for m in (*RUN_METRICS, *extra)]
        row += [run.best_epoch, run.epochs, run.params_total, run.flops, run.images_per_s, run.wall_time_s]
        row += [run.source, run.path, (run.wandb or {}).get("url") or ""]
        rows.append(row)
    return header, rows


def settling_table(result: Settling) -> tuple[list[str], list[list[str]]]:
    """Ranking by epoch: epoch, tau against the last epoch, the best group, each factor's level order."""
    factors = list(result.factors_settled_at)
    header = ["epoch", "Kendall tau vs last", "best group", *(f"{f} (best first)" for f in factors)]
    rows = [
        [
            str(row.epoch),
            "" if row.kendall_tau is None else f"{row.kendall_tau:.2f}",
            row.best,
            *(" > ".join(row.orders[f]) for f in factors),
        ]
        for row in result.rows
    ]
    return header, rows
