"""Learning-rate schedules that torch lacks, as factories for ``scheduler.factory`` (``_partial_: true``)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

import torch


def piecewise(
    optimizer: torch.optim.Optimizer, *, milestones: Sequence[int], factors: Sequence[float]
) -> torch.optim.lr_scheduler.LambdaLR:
    """The base rate times ``factors[i]`` from step ``milestones[i-1]`` on (``factors[0]`` before the first).

    LeCun et al. (1998), 20 passes: ``milestones=[2, 5, 8, 12]``, ``factors=[1, 0.4, 0.2, 0.1, 0.02]`` with
    ``lr=5e-4`` gives their 0.0005, 0.0002, 0.0001, 0.00005 and 0.00001.
    """
    if len(factors) != len(milestones) + 1:
        raise ValueError(
            f"scheduler.factory.factors needs one more value than milestones: {len(milestones)} milestones, "
            f"{len(factors)} factors"
        )
    if list(milestones) != sorted(milestones):
        raise ValueError(f"scheduler.factory.milestones must increase, got {list(milestones)}")
    marks, values = list(milestones), [float(f) for f in factors]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: values[bisect_right(marks, step)])
