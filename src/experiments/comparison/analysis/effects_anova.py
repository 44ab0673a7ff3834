"""The models behind the "Effects" section: estimable terms, the ANOVA table and assumption checks.

Works on a frame with formula-safe columns (factors ``f0``, ``f1``, ... and the metric ``y``) so that no
formula ever sees a name such as ``test/acc``; :mod:`~experiments.comparison.analysis.effects` maps the names back.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from experiments.comparison.analysis.effects_results import (
    AnovaRow,
    AssumptionChecks,
    CheckOutcome,
)

#: Below this many residual degrees of freedom the residual variance rests on one or two numbers: no F-test.
MIN_RESIDUAL_DF = 2


@dataclass
class Term:
    """A model term: a main effect (one factor) or a two-way interaction (two factors)."""

    factors: tuple[str, ...]  # formula-safe names
    formula: str  # "C(f0)" (type II) or "C(f0, Sum):C(f1, Sum)" (type III)


@dataclass
class AnovaFit:
    """The fitted model and statsmodels' ANOVA table of its terms."""

    anova_type: str  # "II" or "III"
    terms: list[Term]
    fit: Any  # statsmodels RegressionResults
    table: pd.DataFrame  # anova_lm's table: sum_sq, df, F, PR(>F)


def is_balanced(data: pd.DataFrame, factors: Sequence[str]) -> bool:
    """Every combination of levels present, each with the same number of runs."""
    counts = data.groupby(list(factors)).size()
    full = len(counts) == math.prod(data[f].nunique() for f in factors)
    return full and counts.nunique() == 1


def make_term(factors: Sequence[str], anova_type: str) -> Term:
    coded = [f"C({f}, Sum)" if anova_type == "III" else f"C({f})" for f in factors]
    return Term(tuple(factors), ":".join(coded))


def formula(terms: Sequence[Term]) -> str:
    return "y ~ " + (" + ".join(t.formula for t in terms) if terms else "1")


def design(data: pd.DataFrame, terms: Sequence[Term]) -> tuple[np.ndarray, list[str]]:
    """The design matrix statsmodels builds for ``terms`` and its column names."""
    from statsmodels.formula.api import ols

    model = ols(formula(terms), data)
    return np.asarray(model.exog, dtype=float), list(model.exog_names)


def rank(data: pd.DataFrame, terms: Sequence[Term]) -> int:
    return int(np.linalg.matrix_rank(design(data, terms)[0]))


def estimable_terms(
    data: pd.DataFrame, factors: Sequence[str], anova_type: str, names: dict[str, str]
) -> tuple[list[Term], list[str]]:
    """Main effects, then two-way interactions, each kept only when it adds all its degrees of freedom."""
    terms: list[Term] = []
    notes: list[str] = []
    current = 1
    for combo in [(f,) for f in factors] + list(combinations(factors, 2)):
        term = make_term(combo, anova_type)
        wanted = math.prod(data[f].nunique() - 1 for f in combo)
        extended = rank(data, [*terms, term])
        if extended - current == wanted:
            terms.append(term)
            current = extended
        else:
            notes.append(not_estimable(data, combo, names))
    return terms, notes


def not_estimable(data: pd.DataFrame, combo: tuple[str, ...], names: dict[str, str]) -> str:
    label = ":".join(names[f] for f in combo)
    if len(combo) == 1:
        return f"`{label}` is left out of the ANOVA: its levels are confounded with the other factors."
    a, b = combo
    present = set(data.groupby([a, b]).size().index)
    missing = [
        f"{names[a]}={x}, {names[b]}={y}"
        for x in sorted(data[a].unique())
        for y in sorted(data[b].unique())
        if (x, y) not in present
    ]
    why = f"the grid has no runs with {'; '.join(missing)}" if missing else "the grid does not separate it"
    return f"The interaction `{label}` is not estimable and is left out: {why}."


def fit_anova(
    data: pd.DataFrame, factors: Sequence[str], names: dict[str, str]
) -> tuple[str, AnovaFit | None, list[str]]:
    """Type II on a balanced grid, type III with sum-to-zero contrasts otherwise; ``None`` when untestable."""
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    anova_type = "II" if is_balanced(data, factors) else "III"
    terms, notes = estimable_terms(data, factors, anova_type, names)
    mains = [t for t in terms if len(t.factors) == 1]
    df_resid = len(data) - rank(data, terms)
    if df_resid < MIN_RESIDUAL_DF and len(terms) > len(mains):
        notes.append(
            f"With the interactions only {df_resid} residual degree(s) of freedom would remain: "
            "the ANOVA has main effects only."
        )
        terms, df_resid = mains, len(data) - rank(data, mains)
    if not terms or df_resid < MIN_RESIDUAL_DF:
        notes.append(
            f"Too few runs for an ANOVA: {df_resid} residual degree(s) of freedom (at least "
            f"{MIN_RESIDUAL_DF} needed); the level means below are descriptive only. More seeds per cell help."
        )
        return anova_type, None, notes
    fit = ols(formula(terms), data).fit()
    if fit.ssr <= 1e-12 * max(fit.centered_tss, 1e-12):  # zero up to rounding: an F ratio would be x/0
        notes.append("Every cell repeats its runs exactly (no residual variance): no F-test is possible.")
        return anova_type, None, notes
    table = anova_lm(fit, typ=2 if anova_type == "II" else 3)
    return anova_type, AnovaFit(anova_type, terms, fit, table), notes


def anova_rows(anova: AnovaFit, names: dict[str, str]) -> list[AnovaRow]:
    """One row per term: df, F, p, Holm-adjusted p, partial and plain eta squared."""
    from statsmodels.stats.multitest import multipletests

    table, fit = anova.table, anova.fit
    ss_resid, ss_total = float(table.loc["Residual", "sum_sq"]), float(fit.centered_tss)
    rows = []
    for term in anova.terms:
        ss = float(table.loc[term.formula, "sum_sq"])
        rows.append(
            AnovaRow(
                term=":".join(names[f] for f in term.factors),
                factors=[names[f] for f in term.factors],
                df=float(table.loc[term.formula, "df"]),
                df_residual=float(fit.df_resid),
                F=float(table.loc[term.formula, "F"]),
                p=float(table.loc[term.formula, "PR(>F)"]),
                partial_eta2=ss / (ss + ss_resid),
                eta2=ss / ss_total,
            )
        )
    tested = [i for i, row in enumerate(rows) if math.isfinite(row.p)]
    adjusted = multipletests([rows[i].p for i in tested], method="holm")[1] if tested else []
    for i, p in zip(tested, adjusted):
        rows[i].p_adjusted = float(p)
    return rows


def _check(result: Any) -> CheckOutcome | None:
    statistic, p = float(result.statistic), float(result.pvalue)
    return CheckOutcome(statistic, p) if math.isfinite(statistic) and math.isfinite(p) else None


def assumption_checks(anova: AnovaFit, data: pd.DataFrame, factors: Sequence[str]) -> AssumptionChecks:
    """Shapiro-Wilk on the residuals, Levene across cells; ``doubtful`` when either rejects at 0.05."""
    from scipy import stats

    residuals = np.asarray(anova.fit.resid, dtype=float)
    cells = [g["y"].to_numpy() for _, g in data.groupby(list(factors)) if len(g) >= 2]
    checks = AssumptionChecks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a degenerate sample gives nan or inf: no check
        if len(residuals) >= 3 and np.ptp(residuals) > 0:
            checks.shapiro = _check(stats.shapiro(residuals))
        if len(cells) >= 2 and any(np.ptp(c) > 0 for c in cells):
            checks.levene = _check(stats.levene(*cells))
    checks.doubtful = any(c is not None and c.p < 0.05 for c in (checks.shapiro, checks.levene))
    return checks


def _columns(matrix: np.ndarray, names: Sequence[str], keep: Callable[[set[str]], bool]) -> np.ndarray:
    """The design columns whose term (``C(f0)[T.x]:C(f1)[T.y]`` -> {"C(f0)", "C(f1)"}) passes ``keep``."""
    return matrix[:, [i for i, name in enumerate(names) if keep({p.split("[")[0] for p in name.split(":")})]]


def _nested_f(
    residuals: np.ndarray,
    axis: int,
    *,
    fitted: np.ndarray,
    reduced: np.ndarray,
    with_term: np.ndarray,
    full: np.ndarray,
    df_term: int,
    df_resid: float,
) -> np.ndarray:
    """The F of the nested comparison ``reduced`` -> ``with_term`` over ``full``'s residual, per resample."""
    targets = fitted + np.moveaxis(residuals, axis, -1)
    flat = targets.reshape(-1, targets.shape[-1]).T
    rss = [
        ((flat - x @ np.linalg.lstsq(x, flat, rcond=None)[0]) ** 2).sum(axis=0)
        for x in (reduced, with_term, full)
    ]
    ratio = (rss[0] - rss[1]) / df_term / (rss[2] / df_resid)
    return ratio.reshape(targets.shape[:-1])


def permutation_pvalues(
    data: pd.DataFrame, anova: AnovaFit, resamples: int = 2000, random_state: int = 0
) -> dict[str, tuple[float, float]]:
    """Freedman-Lane permutation test of each main effect: (p, observed F) by safe factor name.

    The residuals of the model without the factor (type II: nor its interactions) are permuted and
    added back to its fitted values; the statistic is the ANOVA's F of the factor, so the observed value
    equals the table's F. The F is computed here from least-squares fits of fixed design matrices because
    it must be vectorised over the resamples (2000 statsmodels fits per factor would take seconds).
    """
    from scipy import stats

    full, names = design(data, anova.terms)
    y = data["y"].to_numpy(dtype=float)
    pvalues: dict[str, tuple[float, float]] = {}
    for term in (t for t in anova.terms if len(t.factors) == 1):
        own = term.formula
        if anova.anova_type == "II":
            reduced = _columns(full, names, lambda parts, own=own: own not in parts)
            with_term = _columns(full, names, lambda parts, own=own: own not in parts or parts == {own})
        else:
            reduced, with_term = _columns(full, names, lambda parts, own=own: parts != {own}), full
        fitted = reduced @ np.linalg.lstsq(reduced, y, rcond=None)[0]
        statistic = partial(
            _nested_f,
            fitted=fitted,
            reduced=reduced,
            with_term=with_term,
            full=full,
            df_term=int(np.linalg.matrix_rank(with_term) - np.linalg.matrix_rank(reduced)),
            df_resid=float(anova.fit.df_resid),
        )
        result = stats.permutation_test(
            (y - fitted,),
            statistic,
            permutation_type="pairings",
            n_resamples=resamples,
            alternative="greater",
            vectorized=True,
            random_state=random_state,
        )
        pvalues[term.factors[0]] = (float(result.pvalue), float(result.statistic))
    return pvalues
