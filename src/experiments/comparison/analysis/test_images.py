"""Test-set uncertainty: an accuracy measured on n test images is itself a sample (issue #27, point 6).

- **One number, one run**: the Wilson score interval of ``correct`` of ``n``
  (``statsmodels.stats.proportion.proportion_confint(method="wilson")``), 95 %. 99.36 % of 10,000 images
  is [99.18, 99.50] %; 81.47 % (277) of 340 images is [77.0, 85.2] %.
- **Several seeds, per-image files**: a two-way bootstrap: each of :data:`RESAMPLES` resamples draws the
  test images with replacement (one draw shared by every run: they scored the same images) and, per
  group, its seeds with replacement; the statistic is the mean over the drawn seeds of their accuracy on
  the drawn images; the interval is the 2.5/97.5 % percentiles. Seed variation and test-sampling variation
  are both in it.
- **Several seeds, accuracies only** (the ``runs.csv``/``summary.json`` of old reports, as in
  ``docs/results.md``): the Wilson interval at the seeds' mean accuracy on n images (not narrowed for the
  seeds: they scored the same images, so their test-sampling errors are shared), widened by the seeds'
  t half-width in quadrature on each side: ``[m - sqrt(a^2 + s^2), m + sqrt(b^2 + s^2)]``, ``a``/``b`` the
  Wilson distances below/above ``m``, ``s`` the t-interval half-width over seeds. With one seed the seed
  variation is unmeasured and the interval is the test-sampling one alone.
- **Two runs on the same test images**: exact McNemar on the discordant images
  (``statsmodels.stats.contingency_tables.mcnemar(exact=True)``: two-sided binomial test of ``b`` of
  ``b + c`` at 1/2), and a paired bootstrap of the accuracy difference over images (:data:`RESAMPLES`
  resamples, seed :data:`SEED`; drawing n images with replacement is drawing the four agreement cells
  from a multinomial, which is how it is computed). Runs whose test sets differ (another number of
  images, other true labels in order) are not paired: :class:`Refusal` says why.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from experiments.records.test_predictions import TestPredictions

CONFIDENCE = 0.95
RESAMPLES = 10_000
SEED = 0
_CHUNK = 500  # resamples drawn at once in the two-way bootstrap


@dataclass(frozen=True)
class AccuracyInterval:
    """``correct`` of ``n`` test images with its Wilson interval (fractions, not percent)."""

    correct: int
    n: int
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def accuracy(self) -> float:
        return self.correct / self.n


def accuracy_interval(correct: int, n: int, confidence: float = CONFIDENCE) -> AccuracyInterval:
    from statsmodels.stats.proportion import proportion_confint

    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"{correct} correct of {n} images")
    low, high = proportion_confint(correct, n, alpha=1 - confidence, method="wilson")
    share = correct / n  # the bounds hold it exactly (at 0 and n statsmodels' can miss by a rounding)
    return AccuracyInterval(correct, n, max(0.0, min(low, share)), min(1.0, max(high, share)), confidence)


def interval_of_accuracy(accuracy: float, n: int, confidence: float = CONFIDENCE) -> AccuracyInterval:
    """The interval of an accuracy quoted as a fraction (``0.9936``) on ``n`` images (rounded to a count)."""
    return accuracy_interval(round(accuracy * n), n, confidence)


@dataclass(frozen=True)
class ReferenceInterval:
    """A reference number: the mean test accuracy over ``seeds`` runs on the same ``n_images``, with an
    interval holding the test-sampling error and, with two or more seeds, the seed variation."""

    mean: float
    n_images: int
    seeds: int
    test_sampling: AccuracyInterval  # Wilson at the mean
    seed_half_width: float | None  # t-interval over seeds; None for one seed
    low: float
    high: float

    def clears(self, target: float) -> bool:
        """An "at least ``target``" goal is met: the whole interval lies above it."""
        return self.low > target

    def excludes(self, target: float) -> bool:
        return not self.low <= target <= self.high


def reference_interval(
    accuracies: Sequence[float], n_images: int, confidence: float = CONFIDENCE
) -> ReferenceInterval:
    """Seeds' accuracies on the same ``n_images`` test images -> mean and interval (module docstring)."""
    from experiments.comparison.analysis.seed_stats import seed_stats

    stats = seed_stats(accuracies, confidence)
    if stats is None:
        raise ValueError("no finite accuracy")
    wilson = interval_of_accuracy(stats.mean, n_images, confidence)
    m = stats.mean
    if stats.n < 2:
        return ReferenceInterval(m, n_images, 1, wilson, None, wilson.low, wilson.high)
    s = stats.half_width
    low = m - math.hypot(m - wilson.low, s)
    high = m + math.hypot(wilson.high - m, s)
    return ReferenceInterval(m, n_images, stats.n, wilson, s, max(low, 0.0), min(high, 1.0))


# ---- two runs on the same test images ---------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why two runs (or groups) were not compared image by image."""

    reason: str


@dataclass(frozen=True)
class PairedComparison:
    """Run A against run B on the same n test images: the agreement table, exact McNemar, paired bootstrap."""

    n: int
    both_right: int
    only_a: int  # A right, B wrong
    only_b: int  # A wrong, B right
    both_wrong: int
    mcnemar_p: float
    low: float  # bootstrap percentile interval of accuracy(A) - accuracy(B)
    high: float
    resamples: int = RESAMPLES
    seed: int = SEED

    @property
    def difference(self) -> float:
        return (self.only_a - self.only_b) / self.n


def same_test_set(a: TestPredictions, b: TestPredictions) -> str | None:
    """Why A and B were not scored on the same test images in the same order, or ``None``."""
    if a.n != b.n:
        return f"different test sets: {a.n:,} and {b.n:,} images"
    if not np.array_equal(a.true, b.true):
        first = int(np.flatnonzero(a.true != b.true)[0])
        return f"different test sets: the true labels differ, first at image {first:,}"
    return None


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p of the discordant counts (1.0 when there are none)."""
    from statsmodels.stats.contingency_tables import mcnemar

    if only_a + only_b == 0:
        return 1.0
    return float(mcnemar([[0, only_a], [only_b, 0]], exact=True).pvalue)


def paired_comparison(
    a: TestPredictions, b: TestPredictions, *, resamples: int = RESAMPLES, seed: int = SEED,
    confidence: float = CONFIDENCE,
) -> PairedComparison | Refusal:  # fmt: skip
    """A against B on the same test images, or a :class:`Refusal` when their test sets differ."""
    reason = same_test_set(a, b)
    if reason:
        return Refusal(reason)
    cells = agreement(a.correct, b.correct)
    both_right, only_a, only_b, both_wrong = cells
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(a.n, np.array(cells) / a.n, size=resamples)
    differences = (drawn[:, 1] - drawn[:, 2]) / a.n
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(differences, [tail, 100 - tail])
    p = mcnemar_exact(only_a, only_b)
    return PairedComparison(
        a.n, both_right, only_a, only_b, both_wrong, p, float(low), float(high), resamples, seed
    )


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """(both right, only A right, only B right, both wrong) of two boolean arrays."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum())


def two_way_bootstrap(
    groups: Sequence[np.ndarray], *, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """(resamples, groups) mean accuracies: images drawn once per resample for all, seeds per group.

    ``groups``: one boolean (seeds, images) matrix per group, all on the same images.
    """
    n = groups[0].shape[1]
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, len(groups)))
    for start in range(0, resamples, _CHUNK):
        b = min(_CHUNK, resamples - start)
        rows = np.repeat(np.arange(b), n) * n
        weights = np.bincount(rows + rng.integers(0, n, b * n), minlength=b * n).reshape(b, n)
        weights = weights.T.astype(np.float32) / n  # (images, resamples)
        for g, correct in enumerate(groups):
            per_seed = correct.astype(np.float32) @ weights  # (seeds, resamples)
            picks = rng.integers(0, correct.shape[0], (correct.shape[0], b))
            out[start : start + b, g] = np.take_along_axis(per_seed, picks, axis=0).mean(axis=0)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m experiments.comparison.analysis.test_images ACCURACY N``: the Wilson interval, in %."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m experiments.comparison.analysis.test_images ACCURACY N  (e.g. 0.9936 10000)")
        return 2
    accuracy, n = float(args[0]), int(args[1])
    accuracy = accuracy / 100 if accuracy > 1 else accuracy
    w = interval_of_accuracy(accuracy, n)
    print(
        f"{100 * w.accuracy:.2f} % ({w.correct:,} of {n:,}): 95 % Wilson [{100 * w.low:.2f}, {100 * w.high:.2f}] %"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
