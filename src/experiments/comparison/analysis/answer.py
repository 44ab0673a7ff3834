"""The answer first: a short paragraph that opens every report (which factor matters, by how many points
with its interval, what interacts, what is equivalent within the SESOI, what is unresolved and how many
seeds would resolve it), from each factor's test where it can act
(:mod:`~experiments.comparison.analysis.cell_means`)."""

from __future__ import annotations

from experiments.comparison.analysis.cell_means import FactorTest, seeds_text
from experiments.comparison.analysis.effects_findings import change
from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.analysis.equivalence import DIFFERS, EQUIVALENT, UNRESOLVED
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind


def _where(test: FactorTest) -> str:
    return "" if test.where == "everywhere" else f", tested where it can act: {test.where}"


def _matters(test: FactorTest, kind: MetricKind) -> str:
    resolved = sorted(
        (lv for lv in test.levels if lv.verdict.verdict == DIFFERS), key=lambda lv: -abs(lv.estimate)
    )
    said = ", ".join(f"`{lv.level}` {change(lv.estimate, lv.low, lv.high, kind)}" for lv in resolved)
    return f"`{test.factor}` matters: against `{test.reference}`, {said}{_where(test)}"


def answer(effects: Effects | None) -> list[str]:
    """The answer-first sentences of the effects (empty without a cell-means model)."""
    model = effects.cell_model if effects else None
    if effects is None or model is None or not model.tests:
        return []
    tests = list(model.tests.values())
    kind = metric_kind(effects.metric)
    unit = f" {kind.unit}" if kind.unit else ""
    lines = []
    matters = [t for t in tests if t.verdict == DIFFERS]
    matters.sort(key=lambda t: -max(abs(lv.estimate) for lv in t.levels))
    lines += [_matters(t, kind) + "." for t in matters]
    if not matters:
        lines.append("No factor is shown to matter at these seeds.")
    interacting = [t for t in tests if t.interacts]
    if interacting:
        lines.append(
            "Interacts: "
            + ", ".join(
                f"`{t.factor}` with the others (p = {t.interaction_p:.2g})" for t in interacting
            )
            + ": its effect differs between the settings of the others (the Effects section has each)."
        )
    sesoi = model.sesoi
    equivalent = [
        f"`{t.factor}={lv.level}` vs `{t.reference}` ({lv.estimate:+.2f}{unit})"
        for t in tests
        for lv in t.levels
        if lv.verdict.verdict == EQUIVALENT and not t.interacts
    ]
    if equivalent:
        lines.append(f"Equivalent within ±{sesoi:g}{unit} (two one-sided tests): " + ", ".join(equivalent) + ".")
    unresolved = [t for t in tests if any(lv.verdict.verdict == UNRESOLVED for lv in t.levels)]
    for test in unresolved:
        levels = [lv.level for lv in test.levels if lv.verdict.verdict == UNRESOLVED]
        need = seeds_text(test)
        lines.append(
            f"Unresolved: `{test.factor}` ({', '.join(f'`{lv}`' for lv in levels)} vs `{test.reference}`)"
            + (f"; {need} would tell a difference of {sesoi:g}{unit} from none." if need else ".")
        )
    if sesoi is None:
        lines.append(f"No equivalence margin for {kind.label}'s unit: give one with --sesoi.")
    return lines
