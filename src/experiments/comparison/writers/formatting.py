"""Cell formatting shared by every output: percentages, intervals, counts, marks and differences."""

from __future__ import annotations

import math
from typing import Any

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.seed_stats import SeedStats

MARK_TIED, MARK_WORSE, MARK_UNTESTED, MARK_BEST, MARK_COPY = "≈", "▼", "?", "★", "="


def fmt_pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.{digits}f}"


def fmt_stats(s: SeedStats | None, ci: bool = True) -> str:
    if s is None:
        return "-"
    if s.n < 2:
        return f"{fmt_pct(s.mean)} (n=1)"
    text = f"{fmt_pct(s.mean)} ± {fmt_pct(s.std)}"
    return text + (f" {fmt_ci(s)}" if ci else "")


def fmt_ci(s: SeedStats | None) -> str:
    """A 95% interval in percent, clipped to [0, 100] (a t-interval over 2-3 seeds can pass the bounds)."""
    if s is None or math.isnan(s.low):
        return "-"
    return f"[{fmt_pct(max(s.low, 0.0))}, {fmt_pct(min(s.high, 1.0))}]"


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


def fmt_diff(group: Group) -> str:
    if group.copy_of:
        return f"= copy of {group.copy_of}"
    if group.is_best:
        return "best"
    c = group.comparison
    if c is None:
        return "-"
    p = "" if math.isnan(c.p_adjusted) else f", p={c.p_adjusted:.2g}"
    return f"{100 * c.diff:+.2f}{p}"


def best_epochs(group: Group) -> str:
    epochs = sorted(r.best_epoch for r in group.ok_runs if r.best_epoch is not None)
    if not epochs:
        return "-"
    return ",".join(str(e) for e in epochs)
