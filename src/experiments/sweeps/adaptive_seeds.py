"""Seeds until the answer is clear: which arms of a fair study get another seed (``hydra.sweeper.max_seeds``).

An arm's interval is narrow enough when the 95 % t-interval of its mean test accuracy (its own seeds' spread)
has a half-width of at most ``sesoi / 2`` points. Two such arms have a difference interval of at most about
``0.71 * sesoi`` half-width: a true difference of zero then comes out "equivalent within the SESOI" (two
one-sided tests), and one of the SESOI or more comes out resolved. Each round adds one seed to every arm
that is still too wide and below ``max_seeds``: the seeds go where the uncertainty is, not spread evenly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class ArmInterval:
    arm: int
    seeds: int
    mean: float | None
    half_width: float | None  # points; None with fewer than 2 finite scores

    def narrow_enough(self, sesoi: float) -> bool:
        return self.half_width is not None and self.half_width <= sesoi / 2


def arm_interval(arm: int, scores: Sequence[float], level: float = 0.95) -> ArmInterval:
    """The t-interval of an arm's mean (``scores`` in points)."""
    values = [s for s in scores if math.isfinite(s)]
    if len(values) < 2:
        return ArmInterval(arm, len(values), values[0] if values else None, None)
    mean = sum(values) / len(values)
    sd = stats.tstd(values)
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * sd / math.sqrt(len(values)))
    return ArmInterval(arm, len(values), mean, half)


def arms_needing_seeds(
    scores: Mapping[int, Sequence[float]], sesoi: float, max_seeds: int, *, twins: Mapping[int, int] | None = None
) -> list[int]:
    """Arms (keys of ``scores``) whose interval is wider than ``sesoi`` allows and which have fewer than
    ``max_seeds`` seeds; an arm that builds the same network as an earlier one (``twins``) follows it."""
    twins = twins or {}
    wide = []
    for arm, values in scores.items():
        if arm in twins:
            continue
        interval = arm_interval(arm, values)
        if interval.seeds < max_seeds and not interval.narrow_enough(sesoi):
            wide.append(arm)
    return sorted(wide + [arm for arm, twin in twins.items() if twin in wide and arm in scores])
