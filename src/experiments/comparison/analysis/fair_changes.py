"""Shared setting against each arm's own best: the cell-means verdicts of the two analysis sets side by side
(:mod:`~experiments.comparison.analysis.cell_means`), and a sentence for each conclusion that changes: a
level that differs in one set and not in the other, flips direction, or is equivalent within ±SESOI in one
and unresolved in the other."""

from __future__ import annotations

from dataclasses import dataclass, field

from experiments.comparison.analysis.cell_means import CellModel, LevelContrast
from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.analysis.equivalence import DIFFERS
from experiments.comparison.analysis.metric_kind import metric_kind


@dataclass
class SideBySide:
    """One level against its reference in both sets (``None`` where that set cannot test it)."""

    factor: str
    level: str
    reference: str
    best: LevelContrast | None
    shared: LevelContrast | None
    changed: bool = False
    sentence: str = ""


@dataclass
class Changes:
    rows: list[SideBySide] = field(default_factory=list)
    testable: bool = False  # both sets have a cell-means model

    @property
    def sentences(self) -> list[str]:
        return [row.sentence for row in self.rows if row.changed]

    def summary(self) -> str:
        if not self.testable:
            return "The shared setting and each arm's own best cannot both be tested (too few seeds or cells)."
        if not self.sentences:
            return "No conclusion changes between each arm's own best setting and the shared setting."
        return " ".join(self.sentences)


def said(contrast: LevelContrast | None, unit: str = " points") -> str:
    """``differs (+1.20 points [+0.40, +2.00])``; ``unit`` is ``""`` for a raw metric (a loss)."""
    if contrast is None:
        return "cannot be tested"
    verdict = contrast.verdict.words()
    verb = "" if contrast.verdict.verdict == DIFFERS else "is "
    return f"{verb}{verdict} ({contrast.estimate:+.2f}{unit} [{contrast.low:+.2f}, {contrast.high:+.2f}])"


def _changed(best: LevelContrast | None, shared: LevelContrast | None) -> bool:
    if best is None or shared is None:
        return best is not shared
    if best.verdict.verdict != shared.verdict.verdict:
        return True
    return best.verdict.verdict == DIFFERS and (best.estimate > 0) != (shared.estimate > 0)


def _levels(model: CellModel | None) -> dict[tuple[str, str], tuple[str, LevelContrast]]:
    found: dict[tuple[str, str], tuple[str, LevelContrast]] = {}
    for test in (model.tests.values() if model else []):
        for level in test.levels:
            found[(test.factor, level.level)] = (test.reference, level)
    return found


def changes(best: Effects | None, shared: Effects | None) -> Changes:
    """Each level's verdict at each arm's own best beside the shared setting's, and what changes."""
    own = _levels(best.cell_model if best else None)
    other = _levels(shared.cell_model if shared else None)
    result = Changes(testable=bool(own) and bool(other))
    measured = best or shared
    kind = metric_kind(measured.metric) if measured else None
    unit = f" {kind.unit}{kind.direction}" if kind and kind.unit else (kind.direction if kind else " points")
    for key in dict.fromkeys([*own, *other]):
        factor, level = key
        reference = (own.get(key) or other[key])[0]
        a, b = own.get(key, (reference, None))[1], other.get(key, (reference, None))[1]
        row = SideBySide(factor, level, reference, a, b, result.testable and _changed(a, b))
        if row.changed:
            flips = a is not None and b is not None and a.verdict.verdict == b.verdict.verdict
            how = "flips direction" if flips else "changes"
            row.sentence = (
                f"`{factor}={level}` vs `{reference}` {how}: at each arm's own best it {said(a, unit)}, "
                f"at the shared setting it {said(b, unit)}."
            )
        result.rows.append(row)
    return result
