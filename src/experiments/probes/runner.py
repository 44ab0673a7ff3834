"""Run the selected probes on one set of inputs: their metrics, curves and time, as one typed report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.probes.borders import probe_borders
from experiments.probes.consistency import probe_consistency
from experiments.probes.dead_units import probe_dead_units
from experiments.probes.inputs import ProbeInputs, ProbeResult
from experiments.probes.overfitting import probe_overfitting
from experiments.probes.rotation import probe_rotation
from experiments.probes.scale import probe_scale
from experiments.probes.shift import probe_shift

#: Each probe by its name in ``conf/probes/`` (config/probe_rules.py checks the same names torch-free).
PROBES: dict[str, Callable[..., ProbeResult]] = {
    "shift": probe_shift,
    "consistency": probe_consistency,
    "rotation": probe_rotation,
    "scale": probe_scale,
    "borders": probe_borders,
    "overfitting": probe_overfitting,
    "dead_units": probe_dead_units,
}


@dataclass
class ProbeReport:
    """The probes' metrics (``probe/...``), their curves, how long each took, and what they looked at."""

    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    images: int = 0
    train_images: int | None = None
    limited: bool = False
    background: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``probes.json``: every field."""
        return {
            "metrics": self.metrics,
            "curves": self.curves,
            "seconds": self.seconds,
            "images": self.images,
            "train_images": self.train_images,
            "limited": self.limited,
            "background": self.background,
        }


def run_probes(inputs: ProbeInputs, settings: Mapping[str, Mapping[str, Any] | None]) -> ProbeReport:
    """Each probe named in ``settings`` (in ``PROBES``' order) with its settings, on ``inputs``."""
    report = ProbeReport(
        images=inputs.count,
        limited=inputs.limited,
        background=[float(v) for v in inputs.background.tolist()],
    )
    for name, probe in PROBES.items():
        if name not in settings:
            continue
        start = time.perf_counter()
        result = probe(inputs, **dict(settings[name] or {}))
        report.seconds[name] = time.perf_counter() - start
        report.metrics.update(result.metrics())
        report.curves.update(result.curves())
        if name == "overfitting":
            report.train_images = getattr(result, "train_images", None)
    return report
