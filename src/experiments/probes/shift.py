"""Shift: test accuracy with the image translated by 1..k px, background-filled and rolled round."""

from __future__ import annotations

from dataclasses import dataclass, field

from experiments.probes.edits import shift
from experiments.probes.inputs import ProbeInputs, per_distance

AXES = ((1, 0), (-1, 0), (0, 1), (0, -1))
DIAGONALS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


@dataclass
class ShiftResult:
    """Accuracy by distance (px, averaged over the directions; 0: unshifted), filled and circular."""

    distances: list[int]
    accuracy: list[float]
    circular: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        filled = dict(zip(self.distances[1:], self.accuracy[1:]))
        found = per_distance(filled, "shift_acc") | {"probe/shift_acc": sum(filled.values()) / len(filled)}
        if self.circular:
            found |= per_distance(dict(zip(self.distances[1:], self.circular[1:])), "shift_acc_circular")
        return found

    def curves(self) -> dict[str, object]:
        return {"shift": {"px": self.distances, "acc": self.accuracy, "acc_circular": self.circular or None}}


def probe_shift(
    inputs: ProbeInputs, *, max_px: int = 3, directions: int = 4, circular: bool = True
) -> ShiftResult:
    """Accuracy at each distance 1..``max_px`` along ``directions`` (4: the axes, 8: and the diagonals)."""
    ways = AXES + (DIAGONALS if directions == 8 else ())
    clean = inputs.accuracy()
    distances, filled, rolled = [0], [clean], [clean]
    for d in range(1, max_px + 1):
        distances.append(d)
        fill = inputs.background
        filled.append(_mean([inputs.accuracy(_shifted(d * x, d * y, fill)) for x, y in ways]))
        if circular:
            rolled.append(_mean([inputs.accuracy(_shifted(d * x, d * y, None)) for x, y in ways]))
    return ShiftResult(distances, filled, rolled if circular else [])


def _shifted(dx: int, dy: int, fill):
    return lambda images, _where: shift(images, dx, dy, fill)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
