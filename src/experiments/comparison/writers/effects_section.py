"""The "Effects" section as text: its summary line, its tables as strings, and its Markdown.

Works on the :class:`~experiments.comparison.analysis.effects_results.Effects` of the analysis, so the
Markdown and HTML writers share :func:`effects_tables` and :func:`summary_line`. A value that is not a
finite number shows as ``-`` (``summary.json`` has it as ``null``).
"""

from __future__ import annotations

import math

from experiments.comparison.analysis.effects_findings import seeds_text
from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if _finite(value) is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "-" if _finite(value) is None else f"{value:.2g}"


def _interval(low: float | None, high: float | None, digits: int = 2) -> str:
    low, high = _finite(low), _finite(high)
    return "" if low is None or high is None else f" [{low:.{digits}f}, {high:.{digits}f}]"


def summary_line(result: Effects) -> str:
    """What was fitted, on what grid."""
    sizes = [len(result.effects[f].levels) for f in result.factors]
    design = (
        f"a {' x '.join(map(str, sizes))} grid" if len(sizes) > 1 else f"one factor with {sizes[0]} levels"
    )
    text = (
        f"{result.runs} runs of {design} ({result.cells} of {result.grid_cells} cells, "
        f"{seeds_text(result)} seeds per cell). "
    )
    measured = metric_kind(result.metric)
    units = "points (percent)" if measured.fraction else f"{measured.label}'s own unit"
    if not result.anova:
        return text + f"No ANOVA (see the notes): the level means are descriptive. Means in {units}."
    kind = (
        "balanced grid" if result.anova_type == "II" else "unbalanced or partial grid, sum-to-zero contrasts"
    )
    terms = "main effects and two-way interactions" if len(sizes) > 1 else "one-way"
    return text + (
        f"ANOVA of {result.metric_label}, type {result.anova_type} ({kind}), {terms}; p-values "
        f"Holm-adjusted over the terms, alpha = {result.alpha:g}. Means and effects in {units}, "
        + ("95% intervals (of a mean: clipped to [0, 100])." if measured.fraction else "95% intervals.")
        + ("" if measured.higher_is_better else " Lower is better.")
    )


def _anova_table(result: Effects) -> Table:
    permuted = any(row.p_permutation is not None for row in result.anova)
    header = ["term", "df", "F", "p", "Holm p", "partial η²", "share of variance"]
    rows = [
        [row.term, f"{row.df:.0f}", _num(row.F), _p(row.p), _p(row.p_adjusted)]
        + [_num(row.partial_eta2, 3), f"{100 * row.eta2:.1f}%"]
        + ([_p(row.p_permutation)] if permuted else [])
        for row in result.anova
    ]
    residual = result.variance_explained["residual"]
    rows.append(["residual", f"{result.anova[0].df_residual:.0f}", "", "", "", "", f"{100 * residual:.1f}%"])
    rows[-1] += [""] if permuted else []
    return f"ANOVA (type {result.anova_type})", header + (["permutation p"] if permuted else []), rows


def effects_tables(result: Effects) -> list[Table]:
    """The ANOVA table, one table per factor and one per significant interaction, as strings."""
    label = result.metric_label
    kind = metric_kind(result.metric)
    unit = f" ({kind.unit})" if kind.unit else ""
    digits = 2 if kind.fraction else 3
    tables: list[Table] = [_anova_table(result)] if result.anova else []
    for factor, effects in result.effects.items():
        ref = effects.reference
        header = ["level", "runs", f"{label}{kind.percent} [95% CI]", f"effect vs {ref}{unit} [95% CI]", "Welch p"]
        rows = [
            [
                lv.level,
                str(lv.n),
                _num(lv.mean, digits) + _mean_interval(lv.ci_low, lv.ci_high, kind),
                "reference"
                if lv.level == ref
                else _effect_cell(lv.effect, lv.effect_ci_low, lv.effect_ci_high, digits),
                _p(lv.p),
            ]
            for lv in effects.levels
        ]
        tables.append((f"`{factor}`", header, rows))
    for term, info in result.interactions.items():
        header = [info.by, info.factor, "runs", f"effect vs {info.reference}{unit} [95% CI]", "Welch p"]
        rows = [
            [
                e.by_level,
                e.level,
                str(e.n),
                _effect_cell(e.effect, e.effect_ci_low, e.effect_ci_high, digits),
                _p(e.p),
            ]
            for e in info.effects
        ]
        tables.append((f"Interaction `{term}`", header, rows))
    return tables


def _mean_interval(low: float | None, high: float | None, kind: MetricKind) -> str:
    """A mean's interval clipped to [0, 100] points (a t-interval over 2-3 seeds can pass the bounds)."""
    low, high = _finite(low), _finite(high)
    if low is None or high is None:
        return ""
    return _interval(*kind.clip(low, high, kind.scale), digits=2 if kind.fraction else 3)


def _effect_cell(effect: float, low: float | None, high: float | None, digits: int = 2) -> str:
    return f"{effect:+.{digits}f}" + _interval(low, high, digits)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def effects_markdown(result: Effects, heading: str = "##") -> str:
    """The section as Markdown: the summary line, findings, tables and notes."""
    parts = [f"{heading} Effects", "", summary_line(result), ""]
    parts += [f"- {line}" for line in result.findings] + ([""] if result.findings else [])
    for title, header, rows in effects_tables(result):
        parts += [f"{heading}# {title}", "", "| " + " | ".join(_cell(h) for h in header) + " |"]
        parts += ["|" + "---|" * len(header)] + [
            "| " + " | ".join(_cell(c) for c in row) + " |" for row in rows
        ]
        parts.append("")
    if result.notes:
        parts += [f"{heading}# Notes", "", *(f"- {note}" for note in result.notes), ""]
    return "\n".join(parts)
