"""Callbacks of our own: the per-epoch history that results.json and the plots read."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch

CURVE_KEYS = ("train/loss", "train/acc", "val/loss", "val/acc")


class History(pl.Callback):
    """Per-epoch metrics, training time (validation excluded) and images seen."""

    def __init__(self, on_epoch: Any = None) -> None:
        self.on_epoch = on_epoch  # called with the records so far, e.g. to keep results.json current
        self.epochs: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self.train_images = 0
        self._epoch_start = 0.0
        self._val_start = 0.0
        self._val_seconds = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()
        self._val_seconds = 0.0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.train_images += int(batch[1].shape[0]) * trainer.world_size

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._val_seconds += time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seconds = time.perf_counter() - self._epoch_start - self._val_seconds
        self.train_seconds += seconds
        metrics = trainer.callback_metrics
        record = {"epoch": trainer.current_epoch, "train_seconds": seconds}
        for key in CURVE_KEYS:
            value = metrics.get(key + "_epoch", metrics.get(key))
            if isinstance(value, torch.Tensor):
                record[key] = float(value)
        if trainer.optimizers:
            record["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
        self.epochs.append(record)
        if self.on_epoch is not None and trainer.is_global_zero:
            self.on_epoch(self.epochs)

    @property
    def images_per_second(self) -> float | None:
        return self.train_images / self.train_seconds if self.train_seconds > 0 else None


class EpochLines(pl.callbacks.ProgressBar):
    """A progress bar for logs and CI: one line per epoch instead of carriage-return redraws."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        shown = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if not k.startswith("v_num")}
        values = "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {values}", flush=True)


def progress_bar(refresh_rate: int = 10) -> pl.callbacks.ProgressBar:
    """A live tqdm bar in a terminal, one line per epoch otherwise (logs, CI, SLURM)."""
    import sys

    if sys.stdout.isatty():
        return pl.callbacks.TQDMProgressBar(refresh_rate=refresh_rate)
    return EpochLines()
