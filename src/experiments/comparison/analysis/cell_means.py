"""Each factor tested where it can act: a cell-means model of the distinct networks (statsmodels OLS).

Every distinct network is one cell (:mod:`~experiments.comparison.analysis.distinct`); the model is OLS of
the metric (points; a raw metric in its unit) on the cell indicator, without an intercept, so its error is the within-cell seed
variance. A factor F can act in a combination of the other factors' levels where its levels map to at
least two distinct cells; its main effect (a level against the reference) is the average of the
within-combination contrasts over the combinations where all its levels are distinct cells, tested
jointly with ``results.f_test`` and per level with ``results.t_test``; its interaction with the other
factors is the test that those contrasts are equal across the combinations. On a balanced full
factorial without copies this is the type III ANOVA with sum-to-zero contrasts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from experiments.comparison.analysis.distinct import Networks
from experiments.comparison.analysis.equivalence import DIFFERS, EQUIVALENT, UNRESOLVED, Verdict, verdict
from experiments.comparison.analysis.metric_kind import metric_kind

#: Fewer within-cell degrees of freedom than this: no test.
MIN_RESIDUAL_DF = 2


@dataclass
class LevelContrast:
    """A level against the reference, averaged over the combinations where the factor acts (points)."""

    level: str
    estimate: float
    se: float
    low: float
    high: float
    p: float
    verdict: Verdict


@dataclass
class SimpleContrast:
    """A level against the reference within one combination of the other factors (points)."""

    where: dict[str, str]
    level: str
    estimate: float
    low: float
    high: float
    p: float


@dataclass
class FactorTest:
    """One factor's test on the combinations of the other factors where it can act."""

    factor: str
    reference: str
    where: str  # "everywhere" or "pooling in {avg, lp}"
    combinations: int  # where all its levels are distinct networks
    inert: list[dict[str, str]]  # combinations where it cannot act (its levels are one network)
    F: float
    df: int
    df_residual: int
    p: float
    levels: list[LevelContrast]
    interaction_F: float | None = None
    interaction_df: int | None = None
    interaction_p: float | None = None
    simple: list[SimpleContrast] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # a level that builds the same network as another

    @property
    def verdict(self) -> str:
        """differs (some level's interval excludes 0), equivalent (every level within ±SESOI), unresolved."""
        kinds = {lv.verdict.verdict for lv in self.levels}
        if DIFFERS in kinds:
            return DIFFERS
        return EQUIVALENT if kinds == {EQUIVALENT} else UNRESOLVED

    @property
    def interacts(self) -> bool:
        return self.interaction_p is not None and self.interaction_p < 0.05


@dataclass
class CellModel:
    """The cell-means model of a set of distinct networks and each factor's test."""

    runs: int
    cells: int
    df_residual: int
    sd: float  # pooled within-cell seed SD, points (a raw metric: its unit)
    sesoi: float | None  # None: no margin for the metric's unit
    alpha: float
    tests: dict[str, FactorTest] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _independent(rows: Sequence[np.ndarray]) -> np.ndarray:
    """The rows that add rank, in order (a joint test drops linearly dependent constraints)."""
    kept: list[np.ndarray] = []
    for row in rows:
        if not np.any(row):
            continue
        if np.linalg.matrix_rank(np.array([*kept, row])) > len(kept):
            kept.append(row)
    return np.array(kept)


def describe(combos: Sequence[tuple[str, ...]], others: Sequence[str], levels: Mapping[str, list[str]]) -> str:
    """A set of the other factors' combinations, as compactly as exact: ``pooling in {avg, lp}``, or
    ``pooling in {avg, lp}; pooling in {max, min} with activation in {gelu}``."""
    if not others:
        return "everywhere"
    values = {k: [v for v in levels[k] if any(c[i] == v for c in combos)] for i, k in enumerate(others)}
    if math.prod(len(v) for v in values.values()) == len(combos):
        parts = [f"{k} in {{{', '.join(v)}}}" for k, v in values.items() if len(v) < len(levels[k])]
        return " with ".join(parts) or "everywhere"
    head, rest = others[0], others[1:]
    by_rest: dict[str, list[str]] = {}
    for value in values[head]:
        inner = [c[1:] for c in combos if c[0] == value]
        by_rest.setdefault(describe(inner, rest, levels), []).append(value)
    return "; ".join(
        f"{head} in {{{', '.join(vs)}}}" + ("" if text == "everywhere" else f" with {text}")
        for text, vs in by_rest.items()
    )


def _where(where: str, aliases: Mapping[str, str]) -> str:
    if not aliases:
        return where
    same = ", ".join(f"{level} = {earlier}" for level, earlier in aliases.items())
    return f"{where} ({same}: one network, counted once)"


def _aliases(combos: Mapping[tuple[str, ...], Mapping[str, int]], order: Sequence[str]) -> dict[str, str]:
    """``{level: earlier level}`` for a level that is the same network as an earlier one wherever both occur
    (``padding=constant`` with the value 0 is ``zeros``): one network, tested once, its difference exactly 0."""
    found: dict[str, str] = {}
    for i, level in enumerate(order):
        for earlier in order[:i]:
            if earlier in found:
                continue
            shared = [m for m in combos.values() if level in m and earlier in m]
            if shared and all(m[level] == m[earlier] for m in shared):
                found[level] = earlier
                break
    return found


def factor_test(
    fit: Any, networks: Networks, factors: Sequence[str], factor: str, reference: str,
    levels: Mapping[str, list[str]], model: CellModel,
) -> FactorTest | None:
    """``factor`` tested on the combinations where all its levels are distinct cells; ``None`` if none."""
    position = factors.index(factor)
    others = [f for f in factors if f != factor]
    combos: dict[tuple[str, ...], dict[str, int]] = {}
    for setting, cell in networks.cells.items():
        rest = setting[:position] + setting[position + 1 :]
        combos.setdefault(rest, {})[setting[position]] = cell
    aliases = _aliases(combos, [reference, *(lv for lv in levels[factor] if lv != reference)])
    order = [reference, *(lv for lv in levels[factor] if lv != reference and lv not in aliases)]
    acting = [c for c, m in combos.items() if all(lv in m for lv in order) and len({m[lv] for lv in order}) == len(order)]
    inert = [dict(zip(others, c)) for c, m in combos.items() if len(set(m.values())) == 1]
    if not acting:
        return None
    cells = len(fit.params)

    def contrast(combo: tuple[str, ...], level: str) -> np.ndarray:
        row = np.zeros(cells)
        row[combos[combo][level]] += 1.0
        row[combos[combo][reference]] -= 1.0
        return row

    mains = [np.mean([contrast(c, lv) for c in acting], axis=0) for lv in order[1:]]
    constraints = _independent(mains)
    if not len(constraints):
        return None
    joint = fit.f_test(constraints)
    tested = fit.t_test(np.array(mains))
    intervals = np.asarray(tested.conf_int(alpha=0.05))
    result = FactorTest(
        factor=factor,
        reference=reference,
        where=_where(describe(acting, others, levels) if inert or len(acting) < len(combos) else "everywhere", aliases),
        combinations=len(acting),
        inert=inert,
        F=float(np.squeeze(joint.fvalue)),
        df=int(joint.df_num),
        df_residual=int(joint.df_denom),
        p=float(joint.pvalue),
        levels=[],
        aliases=aliases,
    )
    for i, level in enumerate(order[1:]):
        estimate, se = float(np.ravel(tested.effect)[i]), float(np.ravel(tested.sd)[i])
        low, high = float(intervals[i, 0]), float(intervals[i, 1])
        said = verdict(
            estimate, low, high, se, model.df_residual, model.sesoi,
            sd=model.sd, combinations=len(acting), alpha=model.alpha,
        )
        result.levels.append(LevelContrast(level, estimate, se, low, high, float(np.ravel(tested.pvalue)[i]), said))
    differences = [contrast(c, lv) - contrast(acting[0], lv) for lv in order[1:] for c in acting[1:]]
    independent = _independent(differences) if differences else np.zeros((0, cells))
    if len(independent):
        together = fit.f_test(independent)
        result.interaction_F = float(np.squeeze(together.fvalue))
        result.interaction_df = int(together.df_num)
        result.interaction_p = float(together.pvalue)
        simple = [(c, lv, contrast(c, lv)) for c in acting for lv in order[1:]]
        each = fit.t_test(np.array([row for _, _, row in simple]))
        bounds = np.asarray(each.conf_int(alpha=0.05))
        for j, (c, lv, _) in enumerate(simple):
            result.simple.append(
                SimpleContrast(
                    dict(zip(others, c)), lv, float(np.ravel(each.effect)[j]),
                    float(bounds[j, 0]), float(bounds[j, 1]), float(np.ravel(each.pvalue)[j]),
                )
            )
    return result


def cell_means(
    networks: Networks,
    factors: Sequence[str],
    metric: str,
    references: Mapping[str, str],
    levels: Mapping[str, list[str]],
    *,
    sesoi: float | None,
    alpha: float = 0.05,
) -> CellModel | None:
    """The cell-means model of ``networks`` and each factor's test; ``None`` without within-cell df."""
    import statsmodels.api as sm

    data = networks.data
    cells = sorted(set(data["cell"]))
    if not cells:
        return None
    index = {c: i for i, c in enumerate(cells)}
    design = np.zeros((len(data), len(cells)))
    design[np.arange(len(data)), [index[c] for c in data["cell"]]] = 1.0
    y = data[metric].to_numpy(dtype=float) * metric_kind(metric).scale
    df_resid = len(data) - len(cells)
    if df_resid < MIN_RESIDUAL_DF:
        return None
    fit = sm.OLS(y, design).fit()
    if not fit.ssr > 1e-12 * max(float(np.sum((y - y.mean()) ** 2)), 1e-12):
        return None
    model = CellModel(len(data), len(cells), df_resid, float(math.sqrt(fit.scale)), sesoi, alpha)
    relabelled = Networks(data, {s: index[c] for s, c in networks.cells.items() if c in index}, networks.copies)
    for factor in factors:
        test = factor_test(fit, relabelled, list(factors), factor, references[factor], levels, model)
        if test is None:
            model.notes.append(f"`{factor}` cannot be tested: no combination of the others has all its levels.")
        else:
            model.tests[factor] = test
    return model


def seeds_text(test: FactorTest) -> str:
    """``13 seeds per cell`` for the least resolved level of an unresolved factor, else ''."""
    needed = [lv.verdict.seeds_per_cell for lv in test.levels if lv.verdict.seeds_per_cell]
    return f"about {max(needed)} seeds per cell" if needed else ""
