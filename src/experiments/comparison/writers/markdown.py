"""``report.md``: context, findings, the group table, differences against the best, failures and plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from experiments.comparison.report_model import Report
from experiments.comparison.writers.probe_plots import PROBE_FILES
from experiments.comparison.writers.tables import (
    FAILED_HEADER,
    comparison_header,
    comparison_rows,
    context_lines,
    failed_rows,
    legend,
    plot_titles,
    table_rows,
)


def md_safe(text: str) -> str:
    """``text`` with ``&`` and ``<`` as entities: a group name, tag, metric name or error from run data is
    shown, never run as HTML by a Markdown viewer (``<script>``), as ``report.html`` escapes it.

    Without a ``<`` no HTML tag can open; ``>`` stays (``max > min`` in the ranking table is ours).
    """
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(report: Report, path: Path) -> Path:
    header, rows = table_rows(report)
    parts = ["# Comparison report", ""]
    if report.answer:
        parts += ["## The answer", "", " ".join(report.answer), ""]
    parts += [
        *context_lines(report),
        "",
        "## Findings",
        "",
        *(f"- {line}" for line in report.insights),
        "",
    ]
    if report.search:
        from experiments.comparison.writers.trial_table import search_legend, trial_rows

        parts += ["## Trials", "", md_table(*trial_rows(report)), "", search_legend(report.search), ""]
    else:
        parts += ["## Groups", "", md_table(header, rows), "", legend(report), ""]
    comparisons = [] if report.search else comparison_rows(report)
    if comparisons:
        parts += [
            f"## Differences against the best group ({report.test_name})",
            "",
            md_table(comparison_header(report), comparisons),
            "",
        ]
    if report.test_set:
        from experiments.comparison.writers.test_set_section import lines_of_test_set

        parts += [*lines_of_test_set(report.test_set), ""]
    if report.effects:
        from experiments.comparison.writers.effects_section import effects_markdown

        parts += [effects_markdown(report.effects), ""]
    if report.fair:
        from experiments.comparison.writers.fair_section import fair_parts

        for part in fair_parts(report.fair):
            parts += [f"## {part.title}", "", *(x for line in part.before for x in (line, ""))]
            if part.rows:
                parts += [md_table(part.header, part.rows), ""]
            parts += [*(x for line in part.after for x in (line, ""))]
    if report.probes:
        parts += probes_markdown(report, path.parent)
    if report.settling:
        from experiments.comparison.writers.tables import settling_table

        parts += ["## Ranking by epoch", "", md_table(*settling_table(report.settling)), ""]
    parts += ["## Runs that did not finish", ""]
    parts += [
        md_table(FAILED_HEADER, failed_rows(report)) if report.failed else "None: every run finished.",
        "",
    ]
    general = {k: v for k, v in report.plots.items() if k not in PROBE_FILES}  # those show under Probes
    if general:
        parts += ["## Plots", ""]
        titles = plot_titles(report)
        for name, plot in general.items():
            rel = _relative(plot, path.parent)
            parts += [f"### {titles.get(name, name)}", "", f"![{name}]({rel})", ""]
    parts += [
        "All runs, one row each: [runs.csv](runs.csv). Machine-readable groups: [summary.json](summary.json).",
        "",
    ]
    from experiments.records.atomic import write_atomic

    write_atomic(path, md_safe("\n".join(parts)))
    return path


def probes_markdown(report: Report, where: Path) -> list[str]:
    """The Probes section: the intro, then each probe's table with its plot under it."""
    from experiments.comparison.writers.probe_plots import TITLES
    from experiments.comparison.writers.probe_section import probe_intro, probe_parts

    assert report.probes is not None
    parts = ["## Probes", "", *(x for line in probe_intro(report.probes) for x in (line, ""))]
    for part in probe_parts(report.probes):
        parts += [f"### {part.title}", "", md_table(part.header, part.rows), ""]
        plot = report.plots.get(part.plot) if part.plot else None
        if plot is not None:
            parts += [f"![{TITLES[part.plot]}]({_relative(plot, where)})", ""]  # type: ignore[index]
    return parts


def _relative(target: Path, start: Path) -> str:
    try:
        return target.resolve().relative_to(start.resolve()).as_posix()
    except ValueError:
        return target.as_posix()
