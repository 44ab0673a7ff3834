"""The fallback for data that does not fit in memory (``data.in_memory=false``): a DataLoader with workers.

Image files are decoded one at a time in the workers; each sample is a uint8 tensor, so the
batches reach ``on_after_batch_transfer`` in the same form as on the fast path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from experiments.data.images import read_image


class ImageFiles(Dataset):
    """Decodes ``paths[i]`` on access (resized and centre-cropped to ``size``)."""

    def __init__(self, paths: Sequence[Path], labels: torch.Tensor, size: int, channels: int) -> None:
        self.paths = list(paths)
        self.labels = labels
        self.size = size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return read_image(self.paths[i], self.size, self.channels), self.labels[i]


class Images(Dataset):
    """Samples of in-memory tensors (for array datasets read whole, e.g. MNIST, under ``in_memory=false``)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]


def readable(paths: Sequence[Path]) -> list[bool]:
    """A cheap check per file (PIL parses the header and verifies what it can), for ``skip_corrupt``."""
    from PIL import Image

    flags = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image.verify()
            flags.append(True)
        except Exception:
            flags.append(False)
    return flags


def loader(
    dataset: Dataset, batch_size: int, *, shuffle: bool, workers: int, drop_last: bool = False, seed: int = 0
) -> DataLoader:
    """A standard DataLoader; Lightning swaps in a ``DistributedSampler`` under DDP."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        drop_last=drop_last,
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
    )
