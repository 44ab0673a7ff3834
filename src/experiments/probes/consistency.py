"""Consistency (Zhang, ICML 2019): how often two random translations of an image get the same class."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from experiments.probes.edits import shift_each
from experiments.probes.inputs import ProbeInputs


@dataclass
class ConsistencyResult:
    """The share of images whose two shifted copies (offsets up to ``max_px`` per axis) agree."""

    consistency: float
    max_px: int

    def metrics(self) -> dict[str, float]:
        return {"probe/consistency": self.consistency}

    def curves(self) -> dict[str, object]:
        return {}


def probe_consistency(inputs: ProbeInputs, *, max_px: int = 3, seed: int = 0) -> ConsistencyResult:
    """Two offsets per image, each axis uniform in [-max_px, max_px], drawn with ``seed``; background fill."""
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.randint(-max_px, max_px + 1, (2, 2, inputs.count), generator=generator)

    def copy(k: int):
        return lambda images, where: shift_each(
            images, offsets[k, 0, where], offsets[k, 1, where], inputs.background
        )

    first, second = inputs.predictions(copy(0)), inputs.predictions(copy(1))
    agree = float((first == second).float().mean()) if inputs.count else float("nan")
    return ConsistencyResult(agree, max_px)
