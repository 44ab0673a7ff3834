"""A LightningDataModule over uint8 image tensors: decode once (cached), split, slice batches on the device.

The fast path (``in_memory=true``, default) keeps each split as one uint8 tensor on the training
device and serves batches by indexing it with a shuffled permutation. ``in_memory=false`` serves
the same splits through a standard ``DataLoader`` with workers. Either way, batches arrive as
uint8 and :meth:`ClassificationData.on_after_batch_transfer` augments (training only) and
normalises them on the device, in the memory layout the module asks for (NHWC with ``channels_last``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

from experiments.data import lazy
from experiments.data.augment import Augment
from experiments.data.batches import Pair, TensorBatches
from experiments.data.cache import load_or_decode
from experiments.data.channels import channel_stats, to_channels
from experiments.data.description import describe
from experiments.data.device_batches import model_input, requested_memory_format, target_device
from experiments.data.split_protocol import partition
from experiments.data.splits import classes_in_prefix, interleaved_order

log = logging.getLogger("experiments.data")


class ClassificationData(pl.LightningDataModule):
    """Reads a source once, fits images to ``image_size``, splits them and serves batches.

    The split: the dataset's own parts where it has them (MNIST/CIFAR train/test, ``datasplits.mat``,
    ``train/val/test`` folders); missing parts come from a stratified, seeded split by
    ``val_fraction``/``test_fraction``. :meth:`describe` records which was used. ``root``, ``download``,
    ``split``, ``skip_corrupt``, ``verify`` and ``class_folders`` are the data group's settings for its
    source and for validation; they are accepted here so that the group instantiates as a whole.
    """

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
        in_memory: bool = True,
        device: str = "auto",
        num_workers: int = 2,
        cache: bool = True,
        cache_dir: str | None = None,
        root: str | None = None,
        download: bool = False,
        split: int | None = None,
        skip_corrupt: bool = False,
        verify: bool = True,
        class_folders: str | None = None,
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
        self.augment = Augment.from_config(augment)
        self.augment_config = plain(augment or {})  # results.json's data_info: JSON, not DictConfig
        self.seed = seed
        self.drop_last = drop_last
        self.in_memory = in_memory
        self.device = device
        self.num_workers = num_workers
        self.cache_dir = (
            (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) if cache else None
        )
        self.mean = mean
        self.std = std
        self.splits: dict[str, Pair] = {}
        self.datasets: dict[str, torch.utils.data.Dataset] = {}
        self.classes: list[str] = []
        self.protocol = ""
        self.info: dict[str, Any] = {}
        self._placed: dict[str, Pair] = {}
        # val/test positions in the split's own order, in the order served (splits.interleaved_order).
        self.eval_order: dict[str, torch.Tensor] = {}
        self.served_labels: dict[str, torch.Tensor] = {}

    # -- reading and splitting -------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Check the files (downloading them where ``data.download=true``); Lightning runs this on one rank."""
        self.source.inputs()

    def setup(self, stage: str | None = None) -> None:
        if self.splits or self.datasets:
            return
        if self.in_memory or not hasattr(self.source, "index"):
            self._setup_tensors()
        else:
            self._setup_files()
        sizes = self.sizes()
        if sizes["train"] == 0:
            raise ValueError(f"{self.name}: the training split is empty (sizes {sizes})")
        log.info("data %s: %s; sizes %s", self.name, self.protocol, sizes)

    def _setup_tensors(self) -> None:
        result = load_or_decode(self.source, self.image_size, self.fit, self.cache_dir)
        decoded = result.decoded
        self._check_labels(decoded.labels)
        self.classes = list(decoded.classes)
        images = to_channels(decoded.images, self.channels)
        parts = self._partition(decoded.labels, decoded.groups, skipped=bool(decoded.skipped))
        self.info.update(
            cache=result.status,
            cache_file=str(result.path) if result.path else None,
            skipped_files=len(decoded.skipped),
            skipped=decoded.skipped[:50],
        )
        if decoded.skipped:
            log.warning(
                "%s: skipped %d unreadable image(s), e.g. %s",
                self.name,
                len(decoded.skipped),
                decoded.skipped[0],
            )
        if self.in_memory:
            self.splits = {part: (images[index], decoded.labels[index]) for part, index in parts.items()}
            self.info["pipeline"] = "in-memory tensors, sliced batches"
            self._set_normalization(self.splits["train"][0])
        else:
            dataset = lazy.Images(images, decoded.labels)
            self.datasets = {
                part: torch.utils.data.Subset(dataset, index.tolist()) for part, index in parts.items()
            }
            self.info["pipeline"] = f"DataLoader, {self.num_workers} workers"
            self._set_normalization(images[parts["train"]])

    def _setup_files(self) -> None:
        index = self.source.index()
        self._check_labels(index.labels)
        self.classes = list(index.classes)
        paths, labels, groups = index.paths, index.labels, index.groups
        skipped: list[str] = []
        if getattr(self.source, "skip_corrupt", False):
            keep = torch.tensor(lazy.readable(paths), dtype=torch.bool)
            skipped = [str(p) for p, ok in zip(paths, keep.tolist()) if not ok]
            if skipped:
                position = torch.cumsum(keep.long(), 0) - 1
                groups = {k: position[v[keep[v]]] for k, v in groups.items()}
                paths = [p for p, ok in zip(paths, keep.tolist()) if ok]
                labels = labels[keep]
        parts = self._partition(labels, groups, skipped=bool(skipped))
        dataset = lazy.ImageFiles(paths, labels, self.image_size, self.channels)
        self.datasets = {part: torch.utils.data.Subset(dataset, idx.tolist()) for part, idx in parts.items()}
        self.info.update(
            cache="off",
            pipeline=f"DataLoader, {self.num_workers} workers, files decoded per sample",
            skipped_files=len(skipped),
            skipped=skipped[:50],
        )
        sample = parts["train"][
            torch.randperm(len(parts["train"]), generator=torch.Generator().manual_seed(0))[:512]
        ]
        if self.mean is None or self.std is None:  # statistics from up to 512 training images
            self._set_normalization(torch.stack([dataset[int(i)][0] for i in sample]))
        else:
            self._set_normalization(None)

    def _check_labels(self, labels: torch.Tensor) -> None:
        if len(labels) and int(labels.max()) >= self.num_classes:
            raise ValueError(
                f"data.num_classes={self.num_classes} but {self.name} has label {int(labels.max())}; "
                f"set data.num_classes={int(labels.max()) + 1}"
            )

    def _partition(
        self, labels: torch.Tensor, groups: dict[str, torch.Tensor], *, skipped: bool
    ) -> dict[str, torch.Tensor]:
        """Index tensors for train/val/test; sets :attr:`protocol` to say where they came from."""
        found = partition(
            self.source,
            labels,
            groups,
            name=self.name,
            seed=self.seed,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            skipped=skipped,
        )
        self.protocol = found.protocol
        if found.official:
            self.info["official_split"] = True
        parts = dict(found.parts)
        for part in ("val", "test"):  # served class-interleaved: a limited evaluation sees every class
            self.eval_order[part] = interleaved_order(labels[parts[part]], self.seed)
            parts[part] = parts[part][self.eval_order[part]]
            self.served_labels[part] = labels[parts[part]]
        self.info["eval_order"] = f"val and test class-interleaved (data.seed {self.seed})"
        return parts

    def coverage(self, part: str, batches: int) -> dict[str, int]:
        """What the first ``batches`` batches of ``part`` hold: batches of all, classes seen of all."""
        labels = self.served_labels[part]
        batch_size = self.eval_batch_size
        return {
            "batches": batches,
            "of_batches": -(-len(labels) // batch_size),
            "images": min(batches * batch_size, len(labels)),
            "classes_seen": classes_in_prefix(labels, batches * batch_size),
            "classes": classes_in_prefix(labels, len(labels)),
        }

    def sizes(self) -> dict[str, int]:
        if self.splits:
            return {part: len(pair[1]) for part, pair in self.splits.items()}
        return {part: len(dataset) for part, dataset in self.datasets.items()}

    # -- normalisation ---------------------------------------------------------------------------

    def _set_normalization(self, images: torch.Tensor | None) -> None:
        """Per-channel statistics from ``data.mean``/``data.std``, else from the training images."""
        if self.mean is None or self.std is None:
            if images is None or len(images) == 0:
                raise ValueError(f"{self.name}: set data.mean and data.std (no training images to measure)")
            mean, std = channel_stats(images)
            self.info["normalization"] = "training split statistics"
        else:
            mean, std = torch.tensor(self.mean, dtype=torch.float), torch.tensor(self.std, dtype=torch.float)
            self.info["normalization"] = "configured"
        if len(mean) != self.channels:
            mean, std = mean.mean().repeat(self.channels), std.mean().repeat(self.channels)
        self.register_normalization(mean, std)

    def register_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """``(x / 255 - mean) / std`` as one multiply-subtract on raw 0..255 values."""
        self.norm_mean, self.norm_std = mean.tolist(), std.tolist()
        self._scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self._shift = (mean / std).view(1, -1, 1, 1)

    # -- batches ---------------------------------------------------------------------------------

    def _on_device(self, part: str) -> Pair:
        """The split's tensors on the training device, moved once."""
        device = target_device(self.device, self.trainer)
        placed = self._placed.get(part)
        if placed is None or placed[0].device != device:
            images, labels = self.splits[part]
            placed = (images.to(device), labels.to(device))
            self._placed[part] = placed
        return placed

    def _batches(self, part: str, *, train: bool) -> TensorBatches | torch.utils.data.DataLoader:
        batch_size = self.batch_size if train else self.eval_batch_size
        drop_last = self.drop_last and train
        if not self.splits:
            return lazy.loader(
                self.datasets[part],
                batch_size,
                shuffle=train,
                workers=self.num_workers,
                drop_last=drop_last,
                seed=self.seed,
            )
        trainer = self.trainer
        return TensorBatches(
            self._on_device(part),
            batch_size,
            shuffle=train,
            seed=self.seed,
            drop_last=drop_last,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
            epoch=(lambda: trainer.current_epoch) if trainer else (lambda: 0),
        )

    def train_dataloader(self) -> TensorBatches | torch.utils.data.DataLoader:
        return self._batches("train", train=True)

    def val_dataloader(self) -> TensorBatches | torch.utils.data.DataLoader:
        return self._batches("val", train=False)

    def test_dataloader(self) -> TensorBatches | torch.utils.data.DataLoader:
        return self._batches("test", train=False)

    def transform(
        self,
        images: torch.Tensor,
        *,
        train: bool,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> torch.Tensor:
        """uint8 (N, C, H, W) -> normalised float: grey repeated to RGB where needed, augmented if ``train``."""
        return model_input(
            images,
            augment=self.augment,
            scale=self._scale,
            shift=self._shift,
            channels=self.channels,
            train=train,
            memory_format=memory_format,
        )

    def on_after_batch_transfer(self, batch: Pair, dataloader_idx: int) -> Pair:
        """Augment (training only) and normalise on the device, in the layout the module asks for."""
        images, labels = batch
        trainer = self.trainer
        training = trainer is not None and trainer.training
        memory_format = requested_memory_format(trainer)
        return self.transform(images, train=training, memory_format=memory_format), labels

    def describe(self) -> dict[str, Any]:
        """What ``results.json`` records as ``data_info``."""
        return describe(self)


def default_cache_dir() -> Path:
    """``$EXPERIMENTS_CACHE_DIR``, else ``~/.cache/experiments`` (outside any repository)."""
    configured = os.environ.get("EXPERIMENTS_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "experiments"


def plain(value: Any) -> dict[str, Any]:
    """A config mapping as plain dicts and lists (Hydra hands ``DictConfig`` and ``ListConfig``)."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else dict(value)
