"""Second looks at the "Effects" ANOVA: fitted again with each identical cell counted once, and a
permutation test beside it where its assumptions are doubtful; each adds its result and a note."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from experiments.comparison.analysis.effects_anova import anova_rows, fit_anova, permutation_pvalues
from experiments.comparison.analysis.effects_results import Effects, IdenticalCells, PermutationTest, Refit


def _copies(data: pd.DataFrame, identical: Sequence[IdenticalCells]) -> pd.Series:
    """Rows of the second cell of each identical pair: the same runs counted again."""
    mask = pd.Series(False, index=data.index)
    for item in identical:
        for context in item.contexts:
            rows = data[item.factor] == item.levels[1]
            for factor, level in context.items():
                rows &= data[factor] == level
            mask |= rows
    return mask


def without_copies(
    result: Effects, data: pd.DataFrame, safe: pd.DataFrame, names: dict[str, str], alpha: float
) -> None:
    """The ANOVA again with each identical cell counted once, and a note on what it changes.

    A copied cell is right for the cell means (its difference is exactly 0) but counts the same seeds'
    spread twice, which inflates the residual degrees of freedom."""
    copies = _copies(data, result.identical)
    kept = safe[~copies.to_numpy()]
    varying = [k for k in names if kept[k].nunique() > 1]  # a factor of copies only keeps one level
    if not varying or kept.groupby(varying).size().max() < 2:
        return
    _, refit, _ = fit_anova(kept, varying, names)
    if refit is None:
        return
    rows = anova_rows(refit, names)
    before = {r.term: r.p_adjusted for r in result.anova}
    changed = [
        f"`{r.term}` (Holm p {before[r.term]:.2g} -> {r.p_adjusted:.2g})"
        for r in rows
        if r.term in before
        and None not in (before[r.term], r.p_adjusted)
        and (before[r.term] < alpha) != (r.p_adjusted < alpha)  # type: ignore[operator]
    ]
    result.without_copies = Refit(runs=len(kept), dropped=int(copies.sum()), anova=rows, changed=changed)
    head = (
        f"{int(copies.sum())} runs repeat the runs of an identical cell; the ANOVA counts them (right for the "
        f"cell means, whose difference is exactly 0, but their seeds' spread enters twice). Fitted again with "
        f"each identical cell once ({len(kept)} runs)"
    )
    if changed:
        verdict = f": the verdict at alpha = {alpha:g} changes for {', '.join(changed)}."
    else:
        verdict = f": every term keeps its verdict at alpha = {alpha:g}."
    result.notes.append(head + verdict)


def permutation_check(
    result: Effects, safe: pd.DataFrame, anova: Any, names: dict[str, str], resamples: int, seed: int
) -> None:
    """Permutation p of each main effect beside the ANOVA's, and a warning line."""
    assert result.checks is not None
    tested = {names[k]: v for k, v in permutation_pvalues(safe, anova, resamples, seed).items()}
    pvalues = {k: p for k, (p, _) in tested.items()}
    result.checks.permutation = PermutationTest(
        method="Freedman-Lane", resamples=resamples, p=pvalues, F={k: f for k, (_, f) in tested.items()}
    )
    for row in result.anova:
        if len(row.factors) == 1:
            row.p_permutation = pvalues.get(row.factors[0])
    rejected = [
        f"{name} (p = {check.p:.2g})"
        for check, name in (
            (result.checks.shapiro, "Shapiro-Wilk: residuals not normal"),
            (result.checks.levene, "Levene: unequal variances"),
        )
        if check is not None and check.p < 0.05
    ]
    listed = ", ".join(f"`{k}` {p:.2g}" for k, p in pvalues.items())
    result.notes.append(
        f"Warning: the ANOVA's assumptions are doubtful ({'; '.join(rejected)}), so its p-values are "
        f"approximate. A permutation test of each main effect ({resamples} resamples) gives p = {listed}."
    )
