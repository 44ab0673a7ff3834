"""What the "Effects" analysis finds, typed: the ANOVA's rows, each level's marginal mean and its contrast
with the reference level, interactions, identical cells, copies, each factor's test where it can act
(:mod:`~experiments.comparison.analysis.cell_means`), assumption checks.

Means and effects are in accuracy points (percent); a raw metric (a loss) in its own unit
(:mod:`~experiments.comparison.analysis.metric_kind`). Every class writes itself as the JSON ``summary.json``
has always held (:meth:`Effects.to_json`): keys in the same order, a key that was written only where it
applied (``p_permutation``, ``permutation``) still only there, NaN and infinities as
``null``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from experiments.comparison.analysis.cell_means import CellModel
from experiments.comparison.analysis.distinct import CopiedSetting

#: Field metadata: leave the key out of the JSON where the value is ``None``.
OPTIONAL = {"optional": True}


def to_json(value: Any) -> Any:
    """A result as JSON types: dataclasses as objects (in field order), NaN and infinities as ``None``."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in fields(value)
            if not (f.metadata.get("optional") and getattr(value, f.name) is None)
        }
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class MarginalMean:
    """The mean of some runs in points, with the t-interval of the mean (none for one run)."""

    n: int
    mean: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass
class Contrast:
    """``mean(level) - mean(reference)`` in points, with Welch's interval and p (``None`` where undefined)."""

    effect: float
    effect_ci_low: float | None = None
    effect_ci_high: float | None = None
    p: float | None = None


@dataclass
class LevelEffect:
    """One level of a factor: its marginal mean over all its runs, and its contrast with the reference."""

    level: str
    n: int
    mean: float
    ci_low: float | None
    ci_high: float | None
    effect: float
    effect_ci_low: float | None
    effect_ci_high: float | None
    p: float | None

    @classmethod
    def of(cls, level: str, mean: MarginalMean, contrast: Contrast) -> LevelEffect:
        return cls(level, mean.n, mean.mean, mean.ci_low, mean.ci_high, **vars(contrast))


@dataclass
class FactorEffects:
    """A factor's levels, the reference level first."""

    reference: str
    levels: list[LevelEffect]


@dataclass
class CellMean:
    """The mean of one cell of two factors (``level`` of the factor, ``by_level`` of the other)."""

    level: str
    by_level: str
    n: int
    mean: float
    ci_low: float | None
    ci_high: float | None


@dataclass
class SimpleEffect:
    """A level's contrast with the reference level within one level of the other factor."""

    by_level: str
    level: str
    n: int
    effect: float
    effect_ci_low: float | None
    effect_ci_high: float | None
    p: float | None


@dataclass
class Interaction:
    """A significant two-way interaction: ``factor``'s effects within each level of ``by``, and the cells."""

    factor: str
    by: str
    reference: str
    effects: list[SimpleEffect]
    cells: list[CellMean]


@dataclass
class AnovaRow:
    """One term of the ANOVA table."""

    term: str  # "pooling" or "pooling:activation"
    factors: list[str]
    df: float
    df_residual: float
    F: float
    p: float
    partial_eta2: float
    eta2: float
    p_adjusted: float | None = None  # Holm over the terms; None where p is not a number
    p_permutation: float | None = field(default=None, metadata=OPTIONAL)  # where the assumptions are doubtful


@dataclass
class CheckOutcome:
    statistic: float
    p: float


@dataclass
class PermutationTest:
    """Freedman-Lane permutation p (and the observed F) of each main effect, by factor."""

    method: str
    resamples: int
    p: dict[str, float]
    F: dict[str, float]


@dataclass
class AssumptionChecks:
    """Shapiro-Wilk on the residuals, Levene across cells; ``doubtful`` when either rejects at 0.05."""

    shapiro: CheckOutcome | None = None
    levene: CheckOutcome | None = None
    doubtful: bool = False
    permutation: PermutationTest | None = field(default=None, metadata=OPTIONAL)


@dataclass
class IdenticalCells:
    """Two levels of one factor whose cells (all else equal) gave bit-identical runs, seed by seed."""

    factor: str
    levels: list[str]  # the two levels, sorted
    contexts: list[dict[str, str]]  # the other factors' levels of each such pair of cells
    seeds: int


@dataclass
class SeedsPerCell:
    min: int
    max: int


@dataclass
class Effects:
    """The "Effects" section: main effects and two-way interactions of a grid of settings."""

    metric: str
    metric_label: str
    alpha: float
    factors: list[str]  # those that vary
    runs: int
    cells: int
    grid_cells: int
    seeds_per_cell: SeedsPerCell
    anova_type: str  # "II" (balanced) or "III"
    anova: list[AnovaRow]  # empty where no ANOVA could be fitted
    effects: dict[str, FactorEffects]
    variance_explained: dict[str, float]  # eta squared by term, and "residual"
    interactions: dict[str, Interaction] = field(default_factory=dict)  # significant ones, by term
    identical: list[IdenticalCells] = field(default_factory=list)
    checks: AssumptionChecks | None = None  # None without an ANOVA
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    copies: list[CopiedSetting] = field(default_factory=list)  # settings whose runs copy others (left out)
    sesoi: float | None = 0.5  # the smallest effect of interest, points; None: no margin for a raw unit
    cell_model: CellModel | None = None  # each factor tested where it can act

    def levels(self, factor: str) -> list[str]:
        return [lv.level for lv in self.effects[factor].levels]

    def to_json(self) -> dict[str, Any]:
        """The ``effects`` of ``summary.json``."""
        document = to_json(self)
        if self.checks is None:
            document["checks"] = {}
        return document
