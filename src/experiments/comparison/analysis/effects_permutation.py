"""A second look at the "Effects" ANOVA: a permutation test beside it where its assumptions are doubtful.

(Copies are no longer fitted twice and refitted: :mod:`~experiments.comparison.analysis.distinct` leaves
them out before any fit.)"""

from __future__ import annotations

from typing import Any

import pandas as pd

from experiments.comparison.analysis.effects_anova import permutation_pvalues
from experiments.comparison.analysis.effects_results import Effects, PermutationTest


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
