"""``report.html``: the Markdown report as one self-contained page, plots embedded, plus every run."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.report_model import Report
from experiments.comparison.writers.formatting import MARK_WORSE, mark
from experiments.comparison.writers.probe_plots import PROBE_FILES
from experiments.comparison.writers.tables import (
    FAILED_HEADER,
    comparison_header,
    comparison_rows,
    context_lines,
    failed_rows,
    legend,
    plot_titles,
    runs_table,
    table_rows,
)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;max-width:100%;margin:.5rem 0}
table{border-collapse:collapse;font-size:.8rem}
th,td{border:1px solid #ddd;padding:.3rem .45rem;text-align:right;vertical-align:top}
td{white-space:nowrap}td.text{white-space:normal;min-width:16rem;text-align:left}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr.best{background:#e8f5e9;font-weight:600}tr.worse{color:#777}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-weight:600;margin-bottom:.3rem}
.legend{font-size:.8rem;color:#555}
"""


def _inline(text: str) -> str:
    """Escape, then turn Markdown backticks and links into HTML."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r'<a href="\2">\1</a>', escaped)


#: Columns of prose (errors): they wrap, where every other cell stays on one line.
TEXT_COLUMNS = {"error"}


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None
) -> str:
    """A table in its own horizontally scrolling box, so that a wide one never widens the page."""
    out = ['<div class="scroll"><table>']
    out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    text = [h in TEXT_COLUMNS for h in header]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        tds = ('<td class="text">' if t else "<td>" for t in text)
        cells = (f"{td}{html.escape(str(c))}</td>" for td, c in zip(tds, row))
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table></div>")
    return "\n".join(out)


def markdown_block_html(lines: list[str]) -> list[str]:
    """A section written as markdown lines (``## title``, paragraphs, one pipe table) as HTML."""
    body: list[str] = []
    table: list[list[str]] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= {"-", ":"} for c in cells):
                table.append(cells)
            continue
        if table:
            body.append(html_table(table[0], table[1:]))
            table = []
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    return body


def embed_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, from its header (IHDR): the size the page shows it at, at most."""
    head = path.read_bytes()[:24]
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def figure(name: str, title: str, plot: Path) -> str:
    """A plot embedded in the page, at most its own size, with its caption."""
    width, height = png_size(plot)
    image = f'<img alt="{html.escape(name)}" width="{width}" height="{height}" src="{embed_png(plot)}">'
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{image}</figure>"


def probes_html(report: Report) -> list[str]:
    """The Probes section: the intro, then each probe's table with its plot under it."""
    from experiments.comparison.writers.probe_plots import TITLES
    from experiments.comparison.writers.probe_section import probe_intro, probe_parts

    assert report.probes is not None
    body = ["<h2>Probes</h2>", *(f"<p>{_inline(line)}</p>" for line in probe_intro(report.probes))]
    for part in probe_parts(report.probes):
        body += [f"<h3>{html.escape(part.title)}</h3>", html_table(part.header, part.rows)]
        plot = report.plots.get(part.plot) if part.plot else None
        if plot is not None:
            body.append(figure(part.plot, TITLES[part.plot], plot))  # type: ignore[arg-type,index]
    return body


def write_html(report: Report, path: Path) -> Path:
    header, rows = table_rows(report)
    classes = ["best" if g.is_best else ("worse" if mark(g) == MARK_WORSE else "") for g in report.groups]
    body = ["<h1>Comparison report</h1>"]
    if report.answer:
        body += ["<h2>The answer</h2>", f"<p>{_inline(' '.join(report.answer))}</p>"]
    body += [
        "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in context_lines(report)) + "</ul>",
        "<h2>Findings</h2>",
        "<ul>" + "".join(f"<li>{_inline(line)}</li>" for line in report.insights) + "</ul>",
    ]
    if report.search:
        from experiments.comparison.writers.trial_table import search_legend, trial_rows

        trial_header, trials = trial_rows(report)
        best = ["best" if row[1] else "" for row in trials]
        body += ["<h2>Trials</h2>", html_table(trial_header, trials, best)]
        body.append(f'<p class="legend">{html.escape(search_legend(report.search))}</p>')
    else:
        body += ["<h2>Groups</h2>", html_table(header, rows, classes)]
        body.append(f'<p class="legend">{html.escape(legend(report))}</p>')
    comparisons = [] if report.search else comparison_rows(report)
    if comparisons:
        body += [
            f"<h2>Differences against the best group ({html.escape(report.test_name)})</h2>",
            html_table(comparison_header(report), comparisons),
        ]
    if report.test_set:
        from experiments.comparison.writers.test_set_section import lines_of_test_set

        body += markdown_block_html(lines_of_test_set(report.test_set))
    if report.effects:
        body += effects_html(report.effects)
    if report.fair:
        from experiments.comparison.writers.fair_section import fair_parts

        for part in fair_parts(report.fair):
            body += [f"<h2>{html.escape(part.title)}</h2>", *(f"<p>{_inline(line)}</p>" for line in part.before)]
            if part.rows:
                body.append(html_table(part.header, part.rows))
            body += [f"<p>{_inline(line)}</p>" for line in part.after]
    if report.probes:
        body += probes_html(report)
    if report.settling:
        from experiments.comparison.writers.tables import settling_table

        body += ["<h2>Ranking by epoch</h2>", html_table(*settling_table(report.settling))]
    body.append("<h2>Runs that did not finish</h2>")
    body.append(
        html_table(FAILED_HEADER, failed_rows(report))
        if report.failed
        else "<p>None: every run finished.</p>"
    )
    general = {k: v for k, v in report.plots.items() if k not in PROBE_FILES}  # those show under Probes
    if general:
        body.append("<h2>Plots</h2>")
        titles = plot_titles(report)
        for name, plot in general.items():
            body.append(figure(name, titles.get(name, name), plot))
    body += [
        "<h2>All runs</h2>",
        '<p class="legend">Accuracies and F1 in %, epochs 1-based; runs.csv has the raw values.</p>',
        html_table(*all_runs(report)),
    ]
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Comparison: {html.escape(', '.join(report.keys) or 'runs')}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body>\n{chr(10).join(body)}\n<p class="legend">Generated {generated}.</p>\n</body>\n</html>\n'
    )
    from experiments.records.atomic import write_atomic

    write_atomic(path, document)
    return path


def all_runs(report: Report) -> tuple[list[str], list[list[str]]]:
    """Every run as the tables above show them: accuracies in %, 1-based epochs; empty columns left out."""
    header, rows = runs_table(report)
    share = [h.split("/")[-1].startswith(("acc", "f1")) for h in header]
    cells = [[_cell(v, pct) for v, pct in zip(row, share)] for row in rows]
    names = {
        "best_epoch": "best epoch",
        "train_images_per_s": "train img/s",
        "wall_time_s": "wall s",
    }
    header = [f"{h} %" if pct else names.get(h, h) for h, pct in zip(header, share)]
    keep = [i for i in range(len(header)) if any(row[i] for row in cells)]
    return [header[i] for i in keep], [[row[i] for i in keep] for row in cells]


def _cell(value: Any, percent: bool = False) -> str:
    if isinstance(value, float):
        if percent:
            return f"{100 * value:.2f}"
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return "" if value is None else str(value)


def effects_html(effects: Effects) -> list[str]:
    """The Effects section: its summary line, findings, tables and notes."""
    from experiments.comparison.writers.effects_section import effects_tables, summary_line

    body = ["<h2>Effects</h2>", f"<p>{_inline(summary_line(effects))}</p>"]
    if effects.findings:
        body.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in effects.findings) + "</ul>")
    for title, header, rows in effects_tables(effects):
        body += [f"<h3>{_inline(title)}</h3>", html_table(header, rows)]
    if effects.notes:
        body.append("<ul>" + "".join(f"<li>{_inline(n)}</li>" for n in effects.notes) + "</ul>")
    return body
