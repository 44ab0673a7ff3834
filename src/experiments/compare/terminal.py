"""The comparison as a rich table in the terminal, with the legend, the findings and the failed runs."""

from __future__ import annotations

import math
import sys
from typing import Any

from experiments.compare.formatting import MARK_WORSE, fmt_ci, fmt_float, fmt_int, fmt_pct, mark
from experiments.compare.report import Report
from experiments.compare.stats import LABELS, METRICS
from experiments.compare.tables import legend


def print_table(report: Report, console: Any = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 160)
    m = report.metric
    table = Table(title=f"{len(report.runs)} runs, grouped by {', '.join(report.keys) or '(nothing varies)'}")
    header = ["group", "n", f"{LABELS.get(m, m)} %", "std", "95% CI", "Δ best", "adj. p", ""]
    header += [f"{LABELS.get(k, k)} %" for k in METRICS if k != m] + ["params", "img/s", "wall s"]
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i == 0 else "right")
    for g in report.groups:
        s, c = g.stats.get(m), g.comparison
        row = [
            g.label,
            f"{len(g.ok_runs)}/{len(g.runs)}",
            fmt_pct(s.mean if s else None),
            fmt_pct(s.std if s else None),
            fmt_ci(s),
            "" if g.is_best or c is None else f"{100 * c.diff:+.2f}",
            "" if g.is_best or c is None or math.isnan(c.p_adjusted) else f"{c.p_adjusted:.2g}",
            mark(g),
            *(fmt_pct(g.stats[k].mean) if g.stats.get(k) else "-" for k in METRICS if k != m),
            fmt_int(g.first("params")),
            fmt_float(g.attribute("images_per_s"), 0),
            fmt_float(g.attribute("wall_time_s"), 1),
        ]
        style = "bold green" if g.is_best else ("dim" if mark(g) == MARK_WORSE else None)
        table.add_row(*(escape(str(cell)) for cell in row), style=style)
    console.print(table)
    console.print(escape(legend(report)), style="dim")
    for line in report.insights:
        console.print("• " + escape(line.replace("`", "")), highlight=False)
    for run in report.failed:
        detail = escape(f"{run.name}: {run.error or ''} ({run.path})")
        console.print(f"[red]{run.status}[/red] {detail}", highlight=False)
