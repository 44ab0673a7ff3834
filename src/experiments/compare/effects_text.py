"""The "Effects" section in words: findings, its tables as strings, and its Markdown.

Works on the JSON-able result of :func:`experiments.compare.effects.factorial_effects` only, so the
Markdown, HTML and terminal writers can share :func:`effects_tables` and :func:`summary_line`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2g}"


def _interval(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f" [{low:.2f}, {high:.2f}]"


def change(effect: float, low: float | None, high: float | None) -> str:
    """``costs 7.20 points [5.90, 8.50]`` for a loss, ``adds 1.10 points [0.20, 2.00]`` for a gain."""
    if effect < 0:
        return f"costs {-effect:.2f} points" + _interval(
            None if high is None else -high, None if low is None else -low
        )
    return f"adds {effect:.2f} points" + _interval(low, high)


def seeds_text(result: dict[str, Any]) -> str:
    seeds = result["seeds_per_cell"]
    return str(seeds["min"]) if seeds["min"] == seeds["max"] else f"{seeds['min']}-{seeds['max']}"


def summary_line(result: dict[str, Any]) -> str:
    """What was fitted, on what grid."""
    sizes = [len(result["effects"][f]["levels"]) for f in result["factors"]]
    design = (
        f"a {' x '.join(map(str, sizes))} grid" if len(sizes) > 1 else f"one factor with {sizes[0]} levels"
    )
    text = (
        f"{result['runs']} runs of {design} ({result['cells']} of {result['grid_cells']} cells, "
        f"{seeds_text(result)} seeds per cell). "
    )
    if not result["anova"]:
        return text + "No ANOVA (see the notes): the level means are descriptive. Means in points (percent)."
    kind = (
        "balanced grid"
        if result["anova_type"] == "II"
        else "unbalanced or partial grid, sum-to-zero contrasts"
    )
    terms = "main effects and two-way interactions" if len(sizes) > 1 else "one-way"
    return text + (
        f"ANOVA of {result['metric_label']}, type {result['anova_type']} ({kind}), {terms}; p-values "
        f"Holm-adjusted over the terms, alpha = {result['alpha']:g}. Means and effects in points (percent), "
        "95% intervals (of a mean: clipped to [0, 100])."
    )


def _stat(row: dict[str, Any]) -> str:
    permutation = (
        f", permutation p = {_p(row['p_permutation'])}" if row.get("p_permutation") is not None else ""
    )
    return (
        f"F({row['df']:.0f}, {row['df_residual']:.0f}) = {row['F']:.2f}, "
        f"Holm-adjusted p = {_p(row['p_adjusted'])}{permutation}"
    )


def _context(contexts: Sequence[dict[str, str]], levels: dict[str, list[str]]) -> str | None:
    """The cells where a factor changes nothing, as compactly as exact: ``None`` means everywhere."""
    keys = list(contexts[0])
    values = {k: [v for v in levels[k] if any(c[k] == v for c in contexts)] for k in keys}
    if math.prod(len(v) for v in values.values()) == len(contexts):  # a full product: factor by factor
        parts = [f"`{k}={' or '.join(v)}`" for k, v in values.items() if len(v) < len(levels[k])]
        return ", ".join(parts) or None
    return "; ".join("`" + ", ".join(f"{k}={v}" for k, v in c.items()) + "`" for c in contexts)


def identical_sentence(item: dict[str, Any], result: dict[str, Any]) -> str:
    factor, (a, b) = item["factor"], item["levels"]
    levels = {f: [lv["level"] for lv in result["effects"][f]["levels"]] for f in result["factors"]}
    where = _context(item["contexts"], levels)
    what = "nothing at all" if where is None else f"{where} not at all"
    if len(levels[factor]) > 2:  # "nothing at all" would read as the whole factor
        what = f"nothing between `{a}` and `{b}`" + ("" if where is None else f" for {where}")
    return (
        f"`{factor}` changes {what} (identical runs): `{factor}={a}` and `{factor}={b}` give bit-identical "
        f"{result['metric_label']} for each of {item['seeds']} seeds: there both are the same network "
        "(trained twice, or one record reused by the sweep) and their zero difference is exact, not an estimate."
    )


def _main_sentence(row: dict[str, Any], result: dict[str, Any]) -> str:
    factor = row["factors"][0]
    effects = result["effects"][factor]
    ref = effects["reference"]
    changes = [
        f"`{lv['level']}` {change(lv['effect'], lv['effect_ci_low'], lv['effect_ci_high'])}"
        for lv in effects["levels"]
        if lv["level"] != ref
    ]
    sentence = (
        f"`{factor}` explains {100 * row['eta2']:.0f}% of the variance of {result['metric_label']} "
        f"({_stat(row)}): against `{ref}`, {', '.join(changes)}."
    )
    partners = [t for t in result["interactions"] if factor in t.split(":")]
    if partners:
        sentence += (
            " Its effect depends on the other factor (see " + ", ".join(f"`{t}`" for t in partners) + ")."
        )
    return sentence


def _unresolved_sentence(row: dict[str, Any], result: dict[str, Any]) -> str:
    factor = row["factors"][0]
    power = result["power"].get(factor)
    sentence = (
        f"`{factor}` is unresolved with {seeds_text(result)} seeds per cell ({_stat(row)}, "
        f"partial η² = {row['partial_eta2']:.2g})"
    )
    if power is None:
        return sentence + ": its observed effect is zero, so no number of seeds is estimated."
    return (
        f"{sentence}: to see an effect of the observed size (Cohen's f = {power['cohens_f']:.2f}) with "
        f"{100 * power['target_power']:.0f}% power at alpha = {power['alpha']:g} would take about "
        f"{power['seeds_per_cell']} seeds per cell ({power['runs_needed']} runs; power now "
        f"{100 * power['power_now']:.0f}%)."
    )


def _interaction_sentence(row: dict[str, Any], result: dict[str, Any]) -> str:
    info = result["interactions"][row["term"]]
    factor, by, ref = info["factor"], info["by"], info["reference"]
    parts = []
    for by_level in dict.fromkeys(e["by_level"] for e in info["effects"]):
        changes = [
            f"`{factor}={e['level']}` {change(e['effect'], e['effect_ci_low'], e['effect_ci_high'])}"
            for e in info["effects"]
            if e["by_level"] == by_level
        ]
        against = f" against `{factor}={ref}`" if not parts else ""
        parts.append(f"with `{by}={by_level}`, {' and '.join(changes)}{against}")
    return (
        f"`{factor}` and `{by}` interact ({_stat(row)}; {100 * row['eta2']:.0f}% of the variance): "
        + "; ".join(parts)
        + "."
    )


def findings(result: dict[str, Any]) -> list[str]:
    """Plain sentences, only where the statistics support them (Holm-adjusted p < alpha)."""
    lines = [identical_sentence(item, result) for item in result["identical"]]
    for row in result["anova"]:
        significant = row["p_adjusted"] is not None and row["p_adjusted"] < result["alpha"]
        if len(row["factors"]) == 1:
            lines.append(_main_sentence(row, result) if significant else _unresolved_sentence(row, result))
        elif significant:
            lines.append(_interaction_sentence(row, result))
    again = result.get("without_copies") or {}
    if again.get("changed"):
        lines.append(
            f"Counted once, the identical cells change the verdict for {', '.join(again['changed'])} "
            f"({again['runs']} runs instead of {result['runs']}): read those terms as not robust."
        )
    return lines


def effects_tables(result: dict[str, Any]) -> list[Table]:
    """The ANOVA table, one table per factor and one per significant interaction, as strings."""
    label = result["metric_label"]
    tables: list[Table] = []
    if result["anova"]:
        permuted = any(row.get("p_permutation") is not None for row in result["anova"])
        header = ["term", "df", "F", "p", "Holm p", "partial η²", "share of variance"]
        rows = [
            [row["term"], f"{row['df']:.0f}", _num(row["F"]), _p(row["p"]), _p(row["p_adjusted"])]
            + [_num(row["partial_eta2"], 3), f"{100 * row['eta2']:.1f}%"]
            + ([_p(row.get("p_permutation"))] if permuted else [])
            for row in result["anova"]
        ]
        residual = result["variance_explained"].get("residual")
        rows.append(
            ["residual", f"{result['anova'][0]['df_residual']:.0f}", "", "", "", "", f"{100 * residual:.1f}%"]
        )
        rows[-1] += [""] if permuted else []
        tables.append(
            (f"ANOVA (type {result['anova_type']})", header + (["permutation p"] if permuted else []), rows)
        )
    for factor, effects in result["effects"].items():
        ref = effects["reference"]
        header = ["level", "runs", f"{label} % [95% CI]", f"effect vs {ref} (points) [95% CI]", "Welch p"]
        rows = [
            [
                lv["level"],
                str(lv["n"]),
                _num(lv["mean"]) + _mean_interval(lv),
                "reference" if lv["level"] == ref else _effect_cell(lv),
                _p(lv["p"]),
            ]
            for lv in effects["levels"]
        ]
        tables.append((f"`{factor}`", header, rows))
    for term, info in result["interactions"].items():
        header = [
            info["by"],
            info["factor"],
            "runs",
            f"effect vs {info['reference']} (points) [95% CI]",
            "Welch p",
        ]
        rows = [
            [e["by_level"], e["level"], str(e["n"]), _effect_cell(e), _p(e["p"])] for e in info["effects"]
        ]
        tables.append((f"Interaction `{term}`", header, rows))
    return tables


def _mean_interval(level: dict[str, Any]) -> str:
    """A mean's interval clipped to [0, 100] points (a t-interval over 2-3 seeds can pass the bounds)."""
    low, high = level["ci_low"], level["ci_high"]
    return "" if low is None or high is None else _interval(max(low, 0.0), min(high, 100.0))


def _effect_cell(row: dict[str, Any]) -> str:
    return f"{row['effect']:+.2f}" + _interval(row["effect_ci_low"], row["effect_ci_high"])


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def effects_markdown(result: dict[str, Any], heading: str = "##") -> str:
    """The section as Markdown: the summary line, findings, tables and notes."""
    parts = [f"{heading} Effects", "", summary_line(result), ""]
    parts += [f"- {line}" for line in result["findings"]] + ([""] if result["findings"] else [])
    for title, header, rows in effects_tables(result):
        parts += [f"{heading}# {title}", "", "| " + " | ".join(_cell(h) for h in header) + " |"]
        parts += ["|" + "---|" * len(header)] + [
            "| " + " | ".join(_cell(c) for c in row) + " |" for row in rows
        ]
        parts.append("")
    if result["notes"]:
        parts += [f"{heading}# Notes", "", *(f"- {note}" for note in result["notes"]), ""]
    return "\n".join(parts)
