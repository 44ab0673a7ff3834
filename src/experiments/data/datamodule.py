"""A LightningDataModule over in-memory uint8 tensors: split once, slice batches, augment on the device."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from experiments.data.sources import Splits, fit_to_size

Pair = tuple[torch.Tensor, torch.Tensor]


def stratified_split(labels: torch.Tensor, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Split indices class by class into parts of the given fractions (the last part takes the rest)."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(labels.numpy()):
        members = rng.permutation(np.flatnonzero(labels.numpy() == label))
        start = 0
        for i, fraction in enumerate(fractions):
            stop = len(members) if i == len(fractions) - 1 else start + int(round(fraction * len(members)))
            parts[i].append(members[start:stop])
            start = stop
    return [torch.from_numpy(np.sort(np.concatenate(p))) for p in parts]


class TensorBatches:
    """Batches sliced from in-memory tensors by a shuffled index: no per-sample Python, no collate.

    Under DDP each rank takes a disjoint strided shard of the epoch's permutation, padded or trimmed
    to equal length as ``DistributedSampler`` does.
    """

    def __init__(
        self,
        data: Pair,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self.images, self.labels = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = epoch

    def _indices(self) -> torch.Tensor:
        n = len(self.labels)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        if self.world_size > 1:
            if self.drop_last:
                order = order[: n - n % self.world_size]
            else:
                pad = -n % self.world_size
                order = torch.cat([order, order[:pad]])
            order = order[self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        n = len(self.labels)
        per_rank = (n // self.world_size) if self.drop_last else -(-n // self.world_size)
        return per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)

    def __iter__(self) -> Iterator[Pair]:
        order = self._indices()
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                return
            yield self.images[index], self.labels[index]


class ClassificationData(pl.LightningDataModule):
    """Reads a source once, fits images to ``image_size``, splits them (stratified, seeded) and serves batches."""

    def __init__(
        self,
        *,
        source: Any,
        name: str,
        num_classes: int,
        channels: int,
        image_size: int,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        fit: str = "resize",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        augment: dict[str, Any] | None = None,
        seed: int = 0,
        drop_last: bool = False,
        root: str | None = None,
        download: bool = False,
    ) -> None:
        super().__init__()
        self.source = source
        self.name = name
        self.num_classes = num_classes
        self.channels = channels
        self.image_size = image_size
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.fit = fit
        self.augment = dict(augment or {})
        self.seed = seed
        self.drop_last = drop_last
        self.mean = mean
        self.std = std
        self.splits: dict[str, Pair] = {}
        self.classes: list[str] = []
        self.protocol = ""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        loaded: Splits = self.source.load(self.image_size)
        self.classes = loaded.classes
        self.protocol = loaded.protocol
        train, val, test = loaded.train, loaded.val, loaded.test
        if test is None:
            fractions = [1 - self.val_fraction - self.test_fraction, self.val_fraction, self.test_fraction]
            train, val, test = (self._take(loaded.train, i) for i in stratified_split(loaded.train[1], fractions, self.seed))
        elif val is None:
            parts = stratified_split(train[1], [1 - self.val_fraction, self.val_fraction], self.seed)
            train, val = (self._take(train, i) for i in parts)
        self.splits = {name: self._fit(pair) for name, pair in (("train", train), ("val", val), ("test", test))}
        labels = self.splits["train"][1]
        if int(labels.max()) >= self.num_classes:
            raise ValueError(
                f"data.num_classes={self.num_classes} but {self.name} has label {int(labels.max())}; "
                f"set data.num_classes={int(labels.max()) + 1}"
            )
        self._set_normalization(self.splits["train"][0])

    @staticmethod
    def _take(pair: Pair, index: torch.Tensor) -> Pair:
        return pair[0][index], pair[1][index]

    def _fit(self, pair: Pair) -> Pair:
        return fit_to_size(pair[0], self.image_size, self.fit), pair[1]

    def _set_normalization(self, images: torch.Tensor) -> None:
        """Per-channel statistics from the training split unless ``data.mean``/``data.std`` are given."""
        if self.mean is None or self.std is None:
            pixels = images.transpose(0, 1).reshape(images.shape[1], -1).float() / 255
            mean, std = pixels.mean(dim=1), pixels.std(dim=1).clamp_min(1e-3)
        else:
            mean, std = torch.tensor(self.mean, dtype=torch.float), torch.tensor(self.std, dtype=torch.float)
        if len(mean) != self.channels:
            mean, std = mean.mean().repeat(self.channels), std.mean().repeat(self.channels)
        self.register_normalization(mean, std)

    def register_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self._mean = mean.view(1, -1, 1, 1)
        self._std = std.view(1, -1, 1, 1)

    def _batches(self, split: str, *, train: bool) -> TensorBatches:
        trainer = self.trainer
        return TensorBatches(
            self.splits[split],
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=self.drop_last and train,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            epoch=(lambda: trainer.current_epoch) if trainer else (lambda: 0),
        )

    def train_dataloader(self) -> TensorBatches:
        return self._batches("train", train=True)

    def val_dataloader(self) -> TensorBatches:
        return self._batches("val", train=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches("test", train=False)

    def on_after_batch_transfer(self, batch: Pair, dataloader_idx: int) -> Pair:
        """On the device: uint8 -> float, grey -> RGB where the model wants 3 channels, augment, normalise."""
        images, labels = batch
        images = images.float().div_(255)
        if images.shape[1] != self.channels:
            images = images.expand(-1, self.channels, -1, -1)
        if self.trainer is not None and self.trainer.training and self.augment:
            images = augment_batch(images, **self.augment)
        mean, std = self._mean.to(images.device), self._std.to(images.device)
        return (images - mean) / std, labels

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "classes": self.classes,
            "sizes": {split: len(pair[1]) for split, pair in self.splits.items()},
        }


def augment_batch(images: torch.Tensor, *, hflip: bool = False, crop_padding: int = 0) -> torch.Tensor:
    """Batched augmentation: random crop after zero padding, random horizontal flip (per image)."""
    n, _, h, w = images.shape
    if crop_padding:
        padded = torch.nn.functional.pad(images, (crop_padding,) * 4)
        dy = torch.randint(0, 2 * crop_padding + 1, (n,), device=images.device)
        dx = torch.randint(0, 2 * crop_padding + 1, (n,), device=images.device)
        rows = (dy[:, None] + torch.arange(h, device=images.device)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=images.device)[None, :])[:, None, None, :]
        batch = torch.arange(n, device=images.device)[:, None, None, None]
        channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        images = padded[batch, channels, rows, cols]
    if hflip:
        flip = torch.rand(n, device=images.device) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    return images
