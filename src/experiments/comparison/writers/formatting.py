"""Cell formatting shared by every output: percentages, intervals, counts, marks and differences."""

from __future__ import annotations

import math
from typing import Any

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.metric_kind import MetricKind, metric_kind
from experiments.comparison.analysis.seed_stats import SeedStats

#: The metric the cells are formatted for unless told: an accuracy (a fraction, in percent).
ACCURACY = metric_kind("test/acc")

MARK_TIED, MARK_WORSE, MARK_UNTESTED, MARK_BEST, MARK_COPY = "≈", "▼", "?", "★", "="


def fmt_pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}"


def fmt_in(value: float | None, kind: MetricKind = ACCURACY) -> str:
    """A recorded value in the table's unit: percent for a fraction, as it is for a raw metric (a loss)."""
    if value is None or math.isnan(value):
        return "-"
    return fmt_pct(value) if kind.fraction else kind.number(value)


def fmt_signed(value: float, kind: MetricKind = ACCURACY) -> str:
    """A difference with its sign in the table's unit: ``-1.23`` points, or ``+0.031`` raw."""
    return f"{kind.scale * value:+.{2 if kind.fraction else 3}f}"


def fmt_stats(s: SeedStats | None, ci: bool = True, kind: MetricKind = ACCURACY) -> str:
    if s is None:
        return "-"
    if s.n < 2:
        return f"{fmt_in(s.mean, kind)} (n=1)"
    text = f"{fmt_in(s.mean, kind)} ± {fmt_in(s.std, kind)}"
    return text + (f" {fmt_ci(s, kind)}" if ci else "")


def fmt_ci(s: SeedStats | None, kind: MetricKind = ACCURACY) -> str:
    """A 95% interval in percent, clipped to [0, 100] (a t-interval over 2-3 seeds can pass the bounds);
    a raw metric's unclipped."""
    if s is None or math.isnan(s.low):
        return "-"
    if not kind.fraction:
        return f"[{fmt_in(s.low, kind)}, {fmt_in(s.high, kind)}]"
    low, high = kind.clip(s.low, s.high)
    return f"[{fmt_pct(low)}, {fmt_pct(high)}]"


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


def fmt_float(s: SeedStats | None, digits: int = 1) -> str:
    return "-" if s is None else f"{s.mean:,.{digits}f}"


def mark(group: Group) -> str:
    if group.copy_of:
        return MARK_COPY
    if group.is_best:
        return MARK_BEST
    c = group.comparison
    if c is None or c.distinguishable is None:
        return MARK_UNTESTED
    return MARK_WORSE if c.distinguishable else MARK_TIED


def fmt_diff(group: Group, kind: MetricKind = ACCURACY) -> str:
    if group.copy_of:
        return f"= copy of {group.copy_of}"
    if group.is_best:
        return "best"
    c = group.comparison
    if c is None:
        return "-"
    p = "" if math.isnan(c.p_adjusted) else f", p={c.p_adjusted:.2g}"
    return f"{fmt_signed(c.diff, kind)}{p}"


def best_epochs(group: Group) -> str:
    epochs = sorted(r.best_epoch for r in group.ok_runs if r.best_epoch is not None)
    if not epochs:
        return "-"
    return ",".join(str(e) for e in epochs)
