"""Rotation: test accuracy with the image rotated by +-d degrees about its centre, background-filled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from experiments.probes.edits import affine
from experiments.probes.inputs import ProbeInputs, label


@dataclass
class RotationResult:
    """Accuracy at each angle (degrees; +d and -d averaged; 0: unrotated)."""

    degrees: list[float]
    accuracy: list[float]

    def metrics(self) -> dict[str, float]:
        return {f"probe/rot_acc_{label(d)}deg": a for d, a in zip(self.degrees[1:], self.accuracy[1:])}

    def curves(self) -> dict[str, object]:
        return {"rotation": {"degrees": self.degrees, "acc": self.accuracy}}


def probe_rotation(inputs: ProbeInputs, *, degrees: Sequence[float] = (5, 15)) -> RotationResult:
    angles, accuracy = [0.0], [inputs.accuracy()]
    for d in sorted(float(a) for a in degrees):
        turned = [inputs.accuracy(_turned(sign * d, inputs)) for sign in (1, -1)]
        angles.append(d)
        accuracy.append(sum(turned) / 2)
    return RotationResult(angles, accuracy)


def _turned(angle: float, inputs: ProbeInputs):
    return lambda images, _where: affine(images, degrees=angle, fill=inputs.background)
