"""Borders, where padding acts: the content moved to each edge, and a band along the borders occluded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from experiments.probes.edits import EDGES, occlude_border, to_edge
from experiments.probes.inputs import ProbeInputs, per_distance


@dataclass
class BordersResult:
    """Accuracy with the content at each edge, and by occluded border width (px; 0: nothing occluded)."""

    edges: dict[str, float]
    widths: list[int]
    occluded: list[float] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        found = {"probe/edge_acc": sum(self.edges.values()) / len(self.edges)}
        found |= {f"probe/edge_acc_{edge}": value for edge, value in self.edges.items()}
        return found | per_distance(dict(zip(self.widths[1:], self.occluded[1:])), "border_occlude_acc")

    def curves(self) -> dict[str, object]:
        return {"borders": {"width_px": self.widths, "acc": self.occluded, "edges": self.edges}}


def probe_borders(
    inputs: ProbeInputs, *, widths: Sequence[int] = (1, 2, 4), threshold: float = 0.2
) -> BordersResult:
    """Each edge's accuracy (content box touching it) and each width's (all four borders occluded)."""
    fill = inputs.background
    edges = {
        edge: inputs.accuracy(lambda images, _where, edge=edge: to_edge(images, edge, fill, threshold))
        for edge in EDGES
    }
    chosen = sorted({int(w) for w in widths})
    occluded = [inputs.accuracy()] + [
        inputs.accuracy(lambda images, _where, w=w: occlude_border(images, w, fill)) for w in chosen
    ]
    return BordersResult(edges, [0, *chosen], occluded)
