"""The :class:`Run` every source becomes, and the parsing of values and overrides its readers share.

Every source (run dirs, W&B logs, the W&B API) yields a :class:`Run` with the same fields, so grouping,
statistics and plots never ask where a run came from. Nothing in compare imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Run:
    """One job, whatever its source."""

    path: str
    source: str  # "results.json", "wandb-offline", "wandb-api", "missing"
    name: str = ""
    status: str = "unknown"  # ok, failed, running, interrupted, missing, unreadable
    error: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # the option of each config group (pooling: max)
    seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    params: int | None = None
    flops: int | None = None
    images_per_s: float | None = None
    wall_time_s: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    confusion: list[list[float]] | None = None
    classes: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    data: str | None = None
    sweep: str | None = None
    wandb: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, key: str) -> float | None:
        """A final metric; ``val/acc_best`` falls back on the best epoch of the history."""
        value = self.metrics.get(key)
        if value is None and key == "val/acc_best":
            values = [row["val/acc"] for row in self.history if finite(row.get("val/acc"))]
            value = max(values) if values else None
        return float(value) if finite(value) else None

    def config_value(self, dotted: str) -> Any:
        from experiments.config.lookup import select

        return select(self.config, dotted)


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``["pooling=max", "+x=1", "~y"]`` -> ``{"pooling": "max", "x": "1"}`` (deletions are dropped)."""
    parsed: dict[str, str] = {}
    for item in overrides:
        item = str(item).strip()
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.lstrip("+").split("=", 1)
        parsed[key.strip()] = value.strip()
    return parsed


def finite(value: Any) -> bool:
    """A real, finite number (``True``/``False`` are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def number(value: Any) -> float | None:
    """A finite float from a number or a numeric string, else ``None``."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if finite(value) else None


def integer(value: Any) -> int | None:
    """An int from a number or a numeric string; ``None`` for missing or unparsable values."""
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
