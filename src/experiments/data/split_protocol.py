"""Which train/val/test split a dataset gets (official file, own parts, seeded stratified) and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from experiments.data.splits import PARTS, stratified_split


@dataclass
class Partition:
    """Index tensors per part, a sentence saying where they came from, and whether a split file set them."""

    parts: dict[str, torch.Tensor]
    protocol: str
    official: bool = False


def partition(
    source: Any,
    labels: torch.Tensor,
    groups: dict[str, torch.Tensor],
    *,
    name: str,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    skipped: bool,
) -> Partition:
    """The dataset's official split file where ``source`` has one, else its own parts (``groups``) with
    the missing ones taken from train, else a seeded stratified split by the two fractions."""
    official = getattr(source, "split_groups", None)
    found = official() if callable(official) else None
    note, protocol = "", ""
    if found is not None:
        if skipped:
            raise ValueError(f"{name}: data.skip_corrupt cannot be combined with an official split file")
        groups, protocol = found
    elif callable(official):
        note = f" ({getattr(source, 'splits_file', 'official split file')} not found)"
    groups = {k: v for k, v in groups.items() if k in PARTS}
    seeded = f"seed {seed}"
    if "train" not in groups:
        fractions = [1 - val_fraction - test_fraction, val_fraction, test_fraction]
        groups = dict(zip(PARTS, stratified_split(labels, fractions, seed)))
        shares = "/".join(f"{f * 100:.4g}" for f in fractions)
        protocol = f"seeded stratified {shares}% train/val/test split ({seeded}){note}"
    elif found is None:
        own = [k for k in PARTS if k in groups]
        protocol = f"the dataset's own {'/'.join(own)} split"
        train = groups["train"]
        for part, fraction in (("val", val_fraction), ("test", test_fraction)):
            if part in groups:
                continue
            keep, held = stratified_split(labels[train], [1 - fraction, fraction], seed + PARTS.index(part))
            groups[part], train = train[held], train[keep]
            protocol += f"; {part}: seeded stratified {fraction * 100:.4g}% of train ({seeded})"
        groups["train"] = train
    return Partition({part: groups[part] for part in PARTS}, protocol, official=found is not None)
