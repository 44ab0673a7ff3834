"""Dividing a dataset into train/val/test: seeded stratified fractions, or an official split file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from experiments.data.sources import DataSourceError

PARTS = ("train", "val", "test")


def stratified_split(labels: torch.Tensor, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Split indices class by class into parts of the given fractions (the last part takes the rest)."""
    rng = np.random.default_rng(seed)
    values = labels.cpu().numpy()
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(values):
        members = rng.permutation(np.flatnonzero(values == label))
        start = 0
        for i, fraction in enumerate(fractions):
            stop = len(members) if i == len(fractions) - 1 else start + round(fraction * len(members))
            parts[i].append(members[start:stop])
            start = stop
    return [torch.from_numpy(np.sort(np.concatenate(p)).astype(np.int64)) for p in parts]


def read_datasplits(path: Path, split: int, num_images: int) -> dict[str, torch.Tensor]:
    """Oxford Flowers' ``datasplits.mat``: ``trn{k}``/``val{k}``/``tst{k}`` hold 1-based image numbers.

    Returns 0-based indices for ``train``/``val``/``test`` of split ``k`` (1..3), checked to be in
    range and disjoint.
    """
    from scipy.io import loadmat

    if split not in (1, 2, 3):
        raise DataSourceError(
            f"data.split must be 1, 2 or 3 (datasplits.mat has three splits), got {split!r}"
        )
    try:
        content = loadmat(str(path))
    except Exception as error:  # scipy raises ValueError/MatReadError/OSError for bad files
        raise DataSourceError(f"cannot read {path}: {error}") from error
    groups: dict[str, torch.Tensor] = {}
    for part, key in zip(PARTS, ("trn", "val", "tst")):
        name = f"{key}{split}"
        if name not in content:
            raise DataSourceError(
                f"{path} has no variable {name!r} (found {sorted(k for k in content if not k.startswith('__'))})"
            )
        numbers = np.asarray(content[name]).ravel()
        if numbers.size == 0 or not np.all(numbers == np.round(numbers)):
            raise DataSourceError(f"{path}: {name} must hold whole image numbers")
        index = numbers.astype(np.int64) - 1
        if index.min() < 0 or index.max() >= num_images:
            raise DataSourceError(f"{path}: {name} has image numbers outside 1..{num_images}")
        groups[part] = torch.from_numpy(np.sort(index))
    joined = torch.cat(list(groups.values()))
    if len(joined.unique()) != len(joined):
        raise DataSourceError(f"{path}: split {split}'s train/val/test parts overlap")
    return groups


def interleaved_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A seeded order of a split in which every prefix holds the classes in proportion (positions into it).

    Each class's members are shuffled and spread evenly over (0, 1) with a seeded offset (member ``j`` of
    ``k`` at ``(j + u) / k``); sorting by those keys is a proportional round-robin over the classes. The
    first ``m`` images then hold ``m * k / n`` of a class of ``k``, give or take one, so that
    ``trainer.limit_val_batches``/``limit_test_batches`` read a sample of every class rather than the first
    classes of a split sorted by class. The same images, another order: whole-set metrics do not change.
    """
    generator = torch.Generator().manual_seed(seed)
    values = labels.cpu()
    keys = torch.empty(len(values), dtype=torch.float64)
    for label in torch.unique(values).tolist():
        members = torch.nonzero(values == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        offset = torch.rand(1, generator=generator, dtype=torch.float64)
        keys[members] = (torch.arange(len(members), dtype=torch.float64) + offset) / len(members)
    return torch.argsort(keys, stable=True)


def classes_in_prefix(labels: torch.Tensor, count: int) -> int:
    """How many classes the first ``count`` labels hold."""
    return int(torch.unique(labels[: max(count, 0)]).numel())
