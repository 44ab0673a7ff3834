"""Which way a metric is better and in which unit it is read: one place, decided from the metric's name.

Accuracies, shares and calibration errors are fractions in [0, 1], shown in percent and compared in points
(one point = 0.01); losses are raw numbers, shown and compared as they are. Higher is better unless the
metric is a loss (any name with ``loss``), a train-minus-test gap (``probe/gap_acc``, ``probe/gap_loss``),
the expected calibration error (``probe/ece``) or a share of dead units (``probe/dead_units``, per layer
``probe/dead_units/<layer>``). The SESOI (``compare.sesoi``, ``--sesoi``) is in points: for a raw-unit
metric there is no default margin (:attr:`MetricKind.default_sesoi` is ``None``); ``--sesoi`` then gives
one in the metric's own unit.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.comparison.analysis.equivalence import DEFAULT_SESOI

#: Final metrics with a short label in tables and sentences (others are shown by their name).
LABELS = {
    "test/acc": "test acc",
    "test/f1_macro": "test F1 (macro)",
    "val/acc_best": "best val acc",
    "val/acc": "val acc",
    "test/acc_top5": "test top-5",
    "test/loss": "test loss",
}
#: Metrics where lower is better besides every loss (a name with ``loss``).
LOWER_IS_BETTER = ("probe/gap_acc", "probe/gap_loss", "probe/ece", "probe/dead_units")


@dataclass(frozen=True)
class MetricKind:
    """A metric's direction and unit, and how a value or a difference of it is written."""

    name: str
    higher_is_better: bool
    fraction: bool  # in [0, 1], shown in percent, differences in points
    label: str

    @property
    def scale(self) -> float:
        """From the recorded value to the unit of tables and effects (points for a fraction)."""
        return 100.0 if self.fraction else 1.0

    @property
    def unit(self) -> str:
        """The unit of a difference: ``points``, or ``""`` for a raw metric."""
        return "points" if self.fraction else ""

    @property
    def percent(self) -> str:
        """`` %`` after a fraction's column header or axis label, else ``""``."""
        return " %" if self.fraction else ""

    @property
    def direction(self) -> str:
        """``""`` where higher is better (the usual case, left unsaid), else `` (lower is better)``."""
        return "" if self.higher_is_better else " (lower is better)"

    def sign(self) -> float:
        """+1 where higher is better, -1 where lower is: ``sign() * value`` is larger for better."""
        return 1.0 if self.higher_is_better else -1.0

    def number(self, value: float, digits: int = 2) -> str:
        """A value already in the metric's unit (points for a fraction): ``1.20``, or ``0.031`` raw."""
        return f"{value:.{digits}f}" if self.fraction else f"{value:.{digits + 1}f}"

    def amount(self, value: float) -> str:
        """A size of a difference with its unit: ``1.20 points``, or ``0.031`` for a raw metric."""
        return self.number(value) + (f" {self.unit}" if self.unit else "")

    def value(self, value: float) -> str:
        """A recorded value as the report shows it: ``61.94%``, or ``1.562`` for a raw metric."""
        return f"{100 * value:.2f}%" if self.fraction else f"{value:.3f}"

    def clip(self, low: float, high: float, scale: float = 1.0) -> tuple[float, float]:
        """An interval of a mean clipped to the metric's range (``scale``: 100 for one in points): [0, 1]
        for a fraction, [-1, 1] for a train-minus-test gap, unclipped for a raw metric."""
        if not self.fraction:
            return low, high
        floor = -1.0 if "gap" in self.name else 0.0
        return max(low, floor * scale), min(high, scale)

    def better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    @property
    def best_word(self) -> str:
        return "highest" if self.higher_is_better else "lowest"

    @property
    def worse_word(self) -> str:
        """How a group the seeds tell apart from the best differs from it: ``lower`` (or ``higher``)."""
        return "lower" if self.higher_is_better else "higher"

    @property
    def default_sesoi(self) -> float | None:
        """The default smallest effect of interest: 0.5 points for a fraction, none for a raw unit."""
        return DEFAULT_SESOI if self.fraction else None

    def no_margin(self) -> str:
        """The note where a raw-unit metric has no equivalence margin."""
        return (
            f"No equivalence margin for {self.label}'s unit (raw, not a fraction): compare.sesoi applies to "
            "fractions only, so no difference is called equivalent and no seeds are sized; give a margin in "
            "its unit with --sesoi."
        )


def metric_kind(metric: str) -> MetricKind:
    """The kind of ``metric`` from its name (see the module's docstring)."""
    lower = "loss" in metric or metric in LOWER_IS_BETTER or metric.startswith("probe/dead_units/")
    return MetricKind(metric, not lower, "loss" not in metric, LABELS.get(metric, metric))
