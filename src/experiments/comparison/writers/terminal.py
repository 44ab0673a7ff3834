"""The comparison as a rich table in the terminal, with the legend, the findings and the failed runs."""

from __future__ import annotations

import math
import os
import sys
from typing import Any

from experiments.comparison.analysis.grouping import LABELS, METRICS
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind
from experiments.comparison.report_model import Report
from experiments.comparison.writers.formatting import (
    MARK_WORSE,
    fmt_ci,
    fmt_float,
    fmt_in,
    fmt_int,
    fmt_pct,
    fmt_signed,
    mark,
)
from experiments.comparison.writers.tables import legend

#: Terminal columns (by id) in the order they are left out when the table is wider than the terminal.
DROP_ORDER = ("wall", "img/s", "params", "test/f1_macro", "val/acc_best", "test/acc", "p", "std")
Column = tuple[str, str, list[str]]  # id, header (may hold a line break), cells


def group_columns(report: Report) -> list[Column]:
    """The group table for the terminal, column by column; long headers fold onto two lines."""
    m, groups = report.metric, report.groups
    kind = metric_kind(m)
    columns: list[Column] = [
        ("group", "group", [g.label for g in groups]),
        ("n", "n", [f"{len(g.ok_runs)}/{len(g.runs)}" for g in groups]),
        (
            "metric",
            _fold(f"{kind.label}{kind.percent}") + ("\n(lower is better)" if not kind.higher_is_better else ""),
            [fmt_in(s.mean if (s := g.stats.get(m)) else None, kind) for g in groups],
        ),
        ("std", "± std", [fmt_in(s.std if (s := g.stats.get(m)) else None, kind) for g in groups]),
        ("ci", "95% CI", [fmt_ci(g.stats.get(m), kind) for g in groups]),
        ("diff", "Δ best\n" + (kind.unit or "raw"), [_diff(g, kind) for g in groups]),
        ("p", "adj. p", [_p(g) for g in groups]),
        ("mark", "", [mark(g) for g in groups]),
    ]
    for k in METRICS:
        if k != m:
            columns.append(
                (
                    k,
                    _fold(f"{LABELS.get(k, k)} %"),
                    [fmt_pct(s.mean) if (s := g.stats.get(k)) else "-" for g in groups],
                )
            )
    columns += [
        ("params", "params", [fmt_int(g.first("params_total")) for g in groups]),
        ("img/s", "img/s", [fmt_float(g.attribute("images_per_s"), 0) for g in groups]),
        ("wall", "wall s", [fmt_float(g.attribute("wall_time_s"), 1) for g in groups]),
    ]
    return columns


def _fold(header: str) -> str:
    """A header on two lines, split at the space nearest its middle (``test acc %`` -> ``test\\nacc %``)."""
    spaces = [i for i, c in enumerate(header) if c == " "]
    if len(header) <= 6 or not spaces:
        return header
    cut = min(spaces, key=lambda i: abs(i - len(header) / 2))
    return header[:cut] + "\n" + header[cut + 1 :]


def _diff(g: Any, kind: MetricKind) -> str:
    if g.copy_of:
        return "= copy"
    return "" if g.is_best or g.comparison is None else fmt_signed(g.comparison.diff, kind)


def _p(g: Any) -> str:
    c = g.comparison
    return "" if g.is_best or c is None or math.isnan(c.p_adjusted) else f"{c.p_adjusted:.2g}"


def trial_columns(report: Report) -> list[Column]:
    """A search's trials table (writers.trial_table) for the terminal, column by column."""
    from experiments.comparison.writers.trial_table import trial_rows

    header, rows = trial_rows(report)
    return [(h, _fold(h), [row[i] for row in rows]) for i, h in enumerate(header)]


#: Trial table columns (by header) in the order they are left out when it is wider than the terminal.
TRIAL_DROP_ORDER = ("wall s", "params", "epochs", "best epoch", "test F1 (macro) %", "status")


def build_table(
    title: str, columns: list[Column], styles: list[str | None], caption: str | None = None
) -> Any:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        title=title,
        caption=caption,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        show_edge=False,
    )
    for i, (_, name, _) in enumerate(columns):
        # labels are never cut: they fold onto a second line only where nothing else can go
        table.add_column(name, justify="left" if i == 0 else "right", no_wrap=i > 0, overflow="fold")
    for r, style in enumerate(styles):
        table.add_row(*(escape(cells[r]) for _, _, cells in columns), style=style)
    return table


def fitted_table(report: Report, console: Any) -> Any:
    """The group (or trial) table with secondary columns left out, in :data:`DROP_ORDER` (or
    :data:`TRIAL_DROP_ORDER`), until it fits the console; the caption names what was left out."""
    from rich.measure import Measurement

    if report.search:
        columns, order = trial_columns(report), TRIAL_DROP_ORDER
        styles: list[str | None] = ["bold green" if cells else None for cells in columns[1][2]]
        title = f"{len(report.runs)} trials of a search over {', '.join(report.keys) or '(nothing varies)'}"
    else:
        columns, order = group_columns(report), DROP_ORDER
        styles = [
            "bold green" if g.is_best else ("dim" if mark(g) == MARK_WORSE else None) for g in report.groups
        ]
        title = f"{len(report.runs)} runs, grouped by {', '.join(report.keys) or '(nothing varies)'}"
    dropped: list[str] = []
    for column_id in order:
        table = build_table(title, columns, styles)
        if Measurement.get(console, console.options.update_width(10_000), table).maximum <= console.width:
            break
        dropped += [c[1].replace("\n", " ").strip() for c in columns if c[0] == column_id]
        columns = [c for c in columns if c[0] != column_id]
    note = f"Left out at {console.width} columns: {', '.join(dropped)} (report.md has every column)."
    return build_table(title, columns, styles, caption=note if dropped else None)


def print_table(report: Report, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = console or Console(width=160 if piped else None)
    if report.answer:
        console.print("[bold]The answer:[/bold] " + escape(" ".join(report.answer).replace("`", "")), highlight=False)
        console.print()
    console.print(fitted_table(report, console))
    if report.search:
        from experiments.comparison.writers.trial_table import search_legend

        console.print(escape(search_legend(report.search)), style="dim")
    else:
        console.print(escape(legend(report)), style="dim")
    for line in report.insights:
        console.print("• " + escape(line.replace("`", "")), highlight=False)
    if report.probes:
        from experiments.comparison.writers.probe_section import probe_lines

        for line in probe_lines(report.probes):
            console.print("probes " + escape(line), highlight=False)
    for run in report.failed:
        detail = escape(f"{run.name}: {run.error or ''} ({run.path})")
        console.print(f"[red]{run.status}[/red] {detail}", highlight=False)
