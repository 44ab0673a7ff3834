"""A compare report's groups on their test set: each group's mean test accuracy with an interval that holds
the test-sampling error, and the best group paired with each other group on the same test images.

How each number is made is in :mod:`experiments.comparison.analysis.test_images`: Wilson for one run; a
two-way bootstrap over images and seeds for several runs with per-image files; Wilson at the mean widened
by the seeds' t half-width where only accuracies are known (a record without ``test_predictions``, its
test-set size from ``data_info``). A copy of another job (``identical_to``) is counted once: skipped.
Pairs: exact McNemar per seed (the best group's and the other group's run of the same seed) and the
two-way bootstrap of the difference of the groups' mean accuracies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from experiments.comparison.analysis.grouping import Group
from experiments.comparison.analysis.test_images import (
    CONFIDENCE,
    RESAMPLES,
    SEED,
    PairedComparison,
    accuracy_interval,
    paired_comparison,
    reference_interval,
    same_test_set,
    two_way_bootstrap,
)
from experiments.records.run_record import RunRecord
from experiments.records.test_predictions import TestPredictions, predictions_of


@dataclass(frozen=True)
class GroupTestSet:
    """A group's mean test accuracy with an interval that holds the test-sampling error."""

    label: str
    runs: int  # distinct finished runs (copies marked identical_to are counted once)
    with_predictions: int
    n_images: int | None
    accuracy: float | None
    low: float | None
    high: float | None
    method: str  # how the interval was made (module docstring)


@dataclass(frozen=True)
class SeedPair:
    """Exact McNemar of the best group's and another group's run of the same seed."""

    seed: int | None
    comparison: PairedComparison


@dataclass(frozen=True)
class GroupPairing:
    """The best group against another on the same test images."""

    best: str
    other: str
    difference: float | None = None  # mean accuracy of best - other
    low: float | None = None  # two-way bootstrap interval of the difference
    high: float | None = None
    pairs: list[SeedPair] = field(default_factory=list)
    refusal: str | None = None


@dataclass(frozen=True)
class TestSetAnalysis:
    """Every group's test-set interval and the best group paired with each other group."""

    __test__ = False

    groups: list[GroupTestSet]
    pairings: list[GroupPairing]
    notes: list[str]
    resamples: int = RESAMPLES
    seed: int = SEED


def analyse_test_set(
    groups: Sequence[Group], *, metric: str = "test/acc", resamples: int = RESAMPLES
) -> TestSetAnalysis:
    """The test-set section's numbers for ``groups`` (compare's groups of seeds; the best one marked)."""
    notes: list[str] = []
    loaded: dict[str, list[tuple[RunRecord, TestPredictions]]] = {}
    summaries = []
    seen: dict[bytes, str] = {}  # the predictions of a group's seeds -> the first group that made them
    for group in groups:
        runs = [r for r in group.ok_runs if not r.identical_to]
        if group.ok_runs and not runs:
            continue  # every run a copy of another group's: its numbers are that group's, counted there
        found = []
        for record in runs:
            predictions, reason = predictions_of(record)
            if predictions is None:
                if record.test_predictions:  # recorded but unusable: say so; never recorded: silent
                    notes.append(f"{group.label}: {reason}")
            else:
                found.append((record, predictions))
        if found and (reason := _one_test_set([p for _, p in found])):
            notes.append(f"{group.label}: {reason}; its runs are not pooled")
            found = []
        signature = _signature(found)
        if signature is not None and signature in seen:
            notes.append(f"{group.label}: every run predicts image for image as {seen[signature]}'s: "
                         "the same networks (a copy, trained again), counted once there")
            continue
        if signature is not None:
            seen[signature] = group.label
        loaded[group.label] = found
        summaries.append(_summary(group.label, runs, found, metric, resamples))
    best = next((g for g in groups if g.is_best), None)
    pairings = []
    if best is not None and loaded.get(best.label):
        pairings = [
            _pairing(best.label, loaded[best.label], g.label, loaded[g.label], resamples)
            for g in groups
            if g is not best and loaded.get(g.label)
        ]
    return TestSetAnalysis(summaries, pairings, notes, resamples)


def _signature(found: Sequence[tuple[RunRecord, TestPredictions]]) -> bytes | None:
    """A group's per-image predictions, seed by seed, as one digest (None without files)."""
    if not found:
        return None
    digest = hashlib.sha256()
    for record, predictions in sorted(found, key=lambda f: (f[0].seed is None, f[0].seed or 0)):
        digest.update(f"{record.seed}:".encode() + np.asarray(predictions.predicted).tobytes())
    return digest.digest()


def _one_test_set(predictions: Sequence[TestPredictions]) -> str | None:
    return next((r for p in predictions[1:] if (r := same_test_set(predictions[0], p))), None)


def _summary(label: str, runs: list[RunRecord], found: list, metric: str, resamples: int) -> GroupTestSet:
    if found and len(found) == len(runs):
        predictions = [p for _, p in found]
        if len(predictions) == 1:
            w = accuracy_interval(predictions[0].n_correct, predictions[0].n)
            return GroupTestSet(label, len(runs), 1, w.n, w.accuracy, w.low, w.high, "Wilson, one run")
        correct = np.stack([p.correct for p in predictions])
        means = two_way_bootstrap([correct], resamples=resamples)[:, 0]
        low, high = np.percentile(means, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
        method = "bootstrap over images and seeds"
        return GroupTestSet(label, len(runs), len(found), correct.shape[1], float(correct.mean()), float(low), float(high), method)  # fmt: skip
    values = [v for v in (r.metric(metric) for r in runs) if v is not None]
    sizes = {(r.data_info.get("sizes") or {}).get("test") for r in runs}
    n = sizes.pop() if len(sizes) == 1 else None
    if not values or not isinstance(n, int) or n < 1:
        return GroupTestSet(label, len(runs), len(found), None, None, None, None, "test-set size unknown")
    ref = reference_interval(values, n)
    method = "Wilson" + (", seeds in quadrature" if ref.seeds > 1 else ", one run") + " (no per-image files)"
    return GroupTestSet(label, len(runs), len(found), n, ref.mean, ref.low, ref.high, method)


def _pairing(best: str, a: list, other: str, b: list, resamples: int) -> GroupPairing:
    reason = same_test_set(a[0][1], b[0][1])
    if reason:
        return GroupPairing(best, other, refusal=reason)
    by_seed = {record.seed: p for record, p in b}
    pairs = [
        SeedPair(record.seed, c)
        for record, p in a
        if record.seed in by_seed
        and isinstance(c := paired_comparison(p, by_seed[record.seed], resamples=resamples), PairedComparison)
    ]
    matrices = [np.stack([p.correct for _, p in runs]) for runs in (a, b)]
    means = two_way_bootstrap(matrices, resamples=resamples)
    differences = means[:, 0] - means[:, 1]
    low, high = np.percentile(differences, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    difference = float(matrices[0].mean() - matrices[1].mean())
    return GroupPairing(best, other, difference, float(low), float(high), pairs)
