"""Scale: test accuracy with the image scaled about its centre (0.9: smaller, 1.1: larger), background-filled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from experiments.probes.edits import affine
from experiments.probes.inputs import ProbeInputs, label


@dataclass
class ScaleResult:
    """Accuracy at each factor (1: unscaled)."""

    factors: list[float]
    accuracy: list[float]

    def metrics(self) -> dict[str, float]:
        return {f"probe/scale_acc_{label(f)}": a for f, a in zip(self.factors, self.accuracy) if f != 1}

    def curves(self) -> dict[str, object]:
        return {"scale": {"factor": self.factors, "acc": self.accuracy}}


def probe_scale(inputs: ProbeInputs, *, factors: Sequence[float] = (0.9, 1.1)) -> ScaleResult:
    chosen = sorted({1.0, *(float(f) for f in factors)})
    accuracy = [inputs.accuracy(None if f == 1 else _scaled(f, inputs)) for f in chosen]
    return ScaleResult(chosen, accuracy)


def _scaled(factor: float, inputs: ProbeInputs):
    return lambda images, _where: affine(images, scale=factor, fill=inputs.background)
