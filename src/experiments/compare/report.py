"""Outputs of a comparison: the terminal table (rich), ``report.md``, ``report.html``, ``runs.csv``, ``summary.json``."""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.compare.collect import Run, wandb_url
from experiments.compare.stats import LABELS, METRICS, Group, Summary, value_of

RUN_METRICS = (
    "test/acc",
    "test/f1_macro",
    "test/acc_top5",
    "test/loss",
    "val/acc_best",
    "val/acc",
    "val/loss",
)
MARK_TIED, MARK_WORSE, MARK_UNTESTED, MARK_BEST = "≈", "▼", "?", "★"


@dataclass
class Report:
    """Everything a comparison found, ready to be written in any format."""

    runs: list[Run]
    keys: list[str]
    groups: list[Group]
    metric: str
    insights: list[str]
    command: str
    alpha: float = 0.05
    plots: dict[str, Path] = field(default_factory=dict)

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if not r.ok]

    @property
    def test_name(self) -> str:
        for group in self.groups:
            if group.comparison is not None:
                return "bootstrap" if group.comparison.test == "bootstrap" else "Welch's t-test"
        return "Welch's t-test"

    def constants(self) -> dict[str, str]:
        """Settings every run shares that differ from the defaults (overrides common to all runs)."""
        ignored = set(self.keys) | {"seed"}
        common: dict[str, str] = {}
        for key in dict.fromkeys(k for r in self.runs for k in r.overrides):
            if key in ignored or key.startswith("hydra."):
                continue
            values = {value_of(r, key) for r in self.runs}
            if len(values) == 1:
                common[key] = values.pop()
        for name in ("model", "data"):
            values = {getattr(r, name) for r in self.runs if getattr(r, name)}
            if len(values) == 1 and name not in common:
                common[name] = values.pop()
        epochs = {r.epochs for r in self.runs if r.ok and r.epochs}
        if len(epochs) == 1:
            common["epochs run"] = str(epochs.pop())
        return common

    def wandb_groups(self) -> list[str]:
        """Links to the W&B groups of online runs."""
        links = []
        for run in self.runs:
            info = run.wandb or {}
            if info.get("mode") == "online":
                url = wandb_url(info, group=True)
                if url and url not in links:
                    links.append(url)
        return links

    def offline_wandb(self) -> int:
        return sum(1 for r in self.runs if (r.wandb or {}).get("mode") == "offline")


# --------------------------------------------------------------------------- formatting


def fmt_pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}"


def fmt_summary(s: Summary | None, ci: bool = True) -> str:
    if s is None:
        return "-"
    if s.n < 2:
        return f"{fmt_pct(s.mean)} (n=1)"
    text = f"{fmt_pct(s.mean)} ± {fmt_pct(s.std)}"
    return text + (f" {fmt_ci(s)}" if ci else "")


def fmt_ci(s: Summary | None) -> str:
    """A 95% interval in percent, clipped to [0, 100] (a t-interval over 2-3 seeds can pass the bounds)."""
    if s is None or math.isnan(s.low):
        return "-"
    return f"[{fmt_pct(max(s.low, 0.0))}, {fmt_pct(min(s.high, 1.0))}]"


def fmt_int(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def fmt_big(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return f"{value:.0f}"


def fmt_float(s: Summary | None, digits: int = 1) -> str:
    return "-" if s is None else f"{s.mean:,.{digits}f}"


def mark(group: Group) -> str:
    if group.is_best:
        return MARK_BEST
    c = group.comparison
    if c is None or c.distinguishable is None:
        return MARK_UNTESTED
    return MARK_WORSE if c.distinguishable else MARK_TIED


def fmt_diff(group: Group) -> str:
    if group.is_best:
        return "best"
    c = group.comparison
    if c is None:
        return "-"
    p = "" if math.isnan(c.p_adjusted) else f", p={c.p_adjusted:.2g}"
    return f"{100 * c.diff:+.2f}{p}"


def best_epochs(group: Group) -> str:
    epochs = sorted(r.best_epoch + 1 for r in group.ok_runs if r.best_epoch is not None)
    if not epochs:
        return "-"
    return ",".join(str(e) for e in epochs)


def table_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """The group table, one row per group, as strings (shared by rich, Markdown and HTML)."""
    m = report.metric
    header = [
        "group",
        "runs",
        f"{LABELS.get(m, m)} % (mean ± std [95% CI])",
        "Δ vs best (points, adj. p)",
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
                fmt_summary(g.stats.get(m)),
                fmt_diff(g),
                mark(g),
                *(fmt_summary(g.stats.get(k), ci=False) for k in METRICS if k != m),
                best_epochs(g),
                fmt_int(g.first("params")),
                fmt_big(g.first("flops")),
                fmt_float(g.attribute("images_per_s"), 0),
                fmt_float(g.attribute("wall_time_s"), 1),
            ]
        )
    return header, rows


def legend(report: Report) -> str:
    return (
        f"{MARK_BEST} best mean {LABELS.get(report.metric, report.metric)}; {MARK_WORSE} lower than the best "
        f"({report.test_name}, Holm-adjusted p < {report.alpha}); {MARK_TIED} cannot be told apart from the best "
        f"with these seeds; {MARK_UNTESTED} too few finished seeds to test. Intervals are t-intervals over seeds, "
        "clipped to [0, 100] (summary.json has them unclipped). Best epoch is 1-based, one per seed."
    )


# --------------------------------------------------------------------------- terminal


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


# --------------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def failed_rows(report: Report) -> list[list[str]]:
    return [[r.name, r.status, r.error or "", r.path] for r in report.failed]


def comparison_rows(report: Report) -> list[list[str]]:
    rows = []
    for g in report.groups:
        c = g.comparison
        if g.is_best or c is None:
            continue
        ci = "-" if math.isnan(c.low) else f"[{100 * c.low:+.2f}, {100 * c.high:+.2f}]"
        p = "-" if math.isnan(c.p) else f"{c.p:.3g}"
        p_adj = "-" if math.isnan(c.p_adjusted) else f"{c.p_adjusted:.3g}"
        verdict = {None: "too few seeds", True: "lower", False: "cannot tell apart"}[c.distinguishable]
        rows.append([g.label, f"{100 * c.diff:+.2f}", ci, p, p_adj, verdict])
    return rows


COMPARISON_HEADER = ["group", "Δ vs best (points)", "95% CI of Δ", "p", "Holm-adjusted p", "verdict"]
FAILED_HEADER = ["run", "status", "error", "path"]
PLOT_TITLES = {
    "curves": "Validation accuracy and loss per epoch (mean ± 1 std over seeds)",
    "final": "Final test accuracy with 95% confidence intervals",
    "params": "Test accuracy against parameters",
    "time": "Test accuracy against wall time",
    "confusion": "Confusion matrix of the best run",
}


def context_lines(report: Report) -> list[str]:
    lines = [
        f"- Runs: {len(report.runs)} ({len(report.runs) - len(report.failed)} finished, {len(report.failed)} not)"
    ]
    lines.append(
        f"- Grouped by: {', '.join(f'`{k}`' for k in report.keys) or '(nothing varies)'}; seeds are repeats"
    )
    constants = report.constants()
    if constants:
        lines.append("- Shared settings: " + ", ".join(f"`{k}={v}`" for k, v in constants.items()))
    sweeps = sorted({r.sweep for r in report.runs if r.sweep})
    if sweeps:
        lines.append("- Sweep: " + ", ".join(f"`{s}`" for s in sweeps))
    for url in report.wandb_groups():
        lines.append(f"- W&B group: [{url}]({url})")
    offline = report.offline_wandb()
    if offline:
        lines.append(
            f"- W&B: {offline} run(s) are offline only (upload them with `wandb sync <run dir>/wandb/offline-run-*`)"
        )
    lines.append(f"- Made with: `{report.command}`")
    return lines


def write_markdown(report: Report, path: Path) -> Path:
    header, rows = table_rows(report)
    parts = [
        "# Comparison report",
        "",
        *context_lines(report),
        "",
        "## Findings",
        "",
        *(f"- {line}" for line in report.insights),
        "",
        "## Groups",
        "",
        md_table(header, rows),
        "",
        legend(report),
        "",
    ]
    comparisons = comparison_rows(report)
    if comparisons:
        parts += [
            f"## Differences against the best group ({report.test_name})",
            "",
            md_table(COMPARISON_HEADER, comparisons),
            "",
        ]
    parts += ["## Runs that did not finish", ""]
    parts += [
        md_table(FAILED_HEADER, failed_rows(report)) if report.failed else "None: every run finished.",
        "",
    ]
    if report.plots:
        parts += ["## Plots", ""]
        for name, plot in report.plots.items():
            rel = _relative(plot, path.parent)
            parts += [f"### {PLOT_TITLES.get(name, name)}", "", f"![{name}]({rel})", ""]
    parts += [
        "All runs, one row each: [runs.csv](runs.csv). Machine-readable groups: [summary.json](summary.json).",
        "",
    ]
    path.write_text("\n".join(parts))
    return path


def _relative(target: Path, start: Path) -> str:
    try:
        return target.resolve().relative_to(start.resolve()).as_posix()
    except ValueError:
        return target.as_posix()


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr.best{background:#e8f5e9;font-weight:600}tr.worse{color:#777}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}
.legend{font-size:.8rem;color:#555}
"""


def _inline(text: str) -> str:
    """Escape, then turn Markdown backticks and links into HTML."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r'<a href="\2">\1</a>', escaped)


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None
) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def embed_png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def write_html(report: Report, path: Path) -> Path:
    header, rows = table_rows(report)
    classes = ["best" if g.is_best else ("worse" if mark(g) == MARK_WORSE else "") for g in report.groups]
    body = [
        "<h1>Comparison report</h1>",
        "<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in context_lines(report)) + "</ul>",
        "<h2>Findings</h2>",
        "<ul>" + "".join(f"<li>{_inline(line)}</li>" for line in report.insights) + "</ul>",
        "<h2>Groups</h2>",
        html_table(header, rows, classes),
        f'<p class="legend">{html.escape(legend(report))}</p>',
    ]
    comparisons = comparison_rows(report)
    if comparisons:
        body += [
            f"<h2>Differences against the best group ({html.escape(report.test_name)})</h2>",
            html_table(COMPARISON_HEADER, comparisons),
        ]
    body.append("<h2>Runs that did not finish</h2>")
    body.append(
        html_table(FAILED_HEADER, failed_rows(report))
        if report.failed
        else "<p>None: every run finished.</p>"
    )
    if report.plots:
        body.append("<h2>Plots</h2>")
        for name, plot in report.plots.items():
            title = html.escape(PLOT_TITLES.get(name, name))
            body.append(
                f'<figure><figcaption>{title}</figcaption><img alt="{html.escape(name)}" src="{embed_png(plot)}"></figure>'
            )
    run_header, run_rows = runs_table(report)
    body += ["<h2>All runs</h2>", html_table(run_header, [[_short(c) for c in row] for row in run_rows])]
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    document = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Comparison: {html.escape(', '.join(report.keys) or 'runs')}</title>\n<style>{_CSS}</style>\n</head>\n"
        f'<body>\n{chr(10).join(body)}\n<p class="legend">Generated {generated}.</p>\n</body>\n</html>\n'
    )
    path.write_text(document)
    return path


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


# --------------------------------------------------------------------------- CSV and JSON


def runs_table(report: Report) -> tuple[list[str], list[list[Any]]]:
    header = ["name", "group", "status", "error", "seed", *report.keys, *RUN_METRICS]
    header += [
        "best_epoch",
        "epochs",
        "params",
        "flops",
        "train_images_per_s",
        "wall_time_s",
        "source",
        "path",
        "wandb_url",
    ]
    group_of = {id(r): g.label for g in report.groups for r in g.runs}
    rows = []
    for run in report.runs:
        row: list[Any] = [run.name, group_of.get(id(run), ""), run.status, run.error or "", run.seed]
        row += [value_of(run, k) for k in report.keys]
        row += [run.metric(m) for m in RUN_METRICS]
        row += [run.best_epoch, run.epochs, run.params, run.flops, run.images_per_s, run.wall_time_s]
        row += [run.source, run.path, (run.wandb or {}).get("url") or ""]
        rows.append(row)
    return header, rows


def write_csv(report: Report, path: Path) -> Path:
    header, rows = runs_table(report)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def _summary_dict(s: Summary | None) -> dict[str, float | int | None] | None:
    if s is None:
        return None
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(s).items()}
    return clean


def write_json(report: Report, path: Path) -> Path:
    groups = []
    for g in report.groups:
        c = g.comparison
        groups.append(
            {
                "label": g.label,
                "key": dict(g.key),
                "runs": len(g.runs),
                "finished": len(g.ok_runs),
                "best": g.is_best,
                "mark": mark(g),
                "stats": {k: _summary_dict(v) for k, v in g.stats.items()},
                "comparison": None
                if c is None
                else {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(c).items()},
                "params": g.first("params"),
                "flops": g.first("flops"),
                "train_images_per_s": _summary_dict(g.attribute("images_per_s")),
                "wall_time_s": _summary_dict(g.attribute("wall_time_s")),
                "best_epochs": [r.best_epoch for r in g.ok_runs],
                "run_paths": [r.path for r in g.runs],
            }
        )
    data = {
        "metric": report.metric,
        "keys": report.keys,
        "test": report.test_name,
        "alpha": report.alpha,
        "groups": groups,
        "failed": [
            {"name": r.name, "status": r.status, "error": r.error, "path": r.path} for r in report.failed
        ],
        "insights": report.insights,
        "plots": {k: p.name for k, p in report.plots.items()},
        "wandb_groups": report.wandb_groups(),
        "command": report.command,
    }
    path.write_text(json.dumps(data, indent=2))
    return path
