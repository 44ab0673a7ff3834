"""Callbacks of our own: the per-epoch history that results.json and the plots read; checkpoints that survive."""

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

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A run resumed from a mid-epoch checkpoint goes on inside that epoch: Lightning does not call
        # on_train_epoch_start for it, so its clock starts here (not at perf_counter's zero, the uptime).
        self.on_train_epoch_start(trainer, pl_module)

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
        record = {"epoch": trainer.current_epoch + 1, "train_seconds": seconds}  # 1-based, as people count
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


class RunDirCheckpoints(pl.Callback):
    """Every ``.ckpt`` written atomically (temporary file in its dir, fsync, rename); re-rooted after a move.

    A run dir that was moved or copied resumes and tests with its own checkpoints, not the old dir's.
    """

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

        from experiments.training.checkpoints import atomic_checkpoint_io

        current = getattr(trainer.strategy, "_checkpoint_io", None)
        if current is None or type(current) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = atomic_checkpoint_io()

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        from experiments.training.checkpoints import reroot_checkpoint_state

        dirpaths = {
            cb.state_key: cb.dirpath for cb in trainer.checkpoint_callbacks if getattr(cb, "dirpath", None)
        }
        reroot_checkpoint_state(checkpoint, dirpaths)


class BestAndLast(pl.callbacks.ModelCheckpoint):
    """Lightning's ``ModelCheckpoint`` with a disk policy: ``keep=best`` (the default) writes the best checkpoint
    as weights only (no optimizer state: a third of an Adam checkpoint) and ``last.ckpt`` whole, to resume from;
    ``keep=all`` writes both whole. At a successful end :func:`~experiments.training.checkpoints.keep_checkpoints`
    deletes ``last.ckpt`` under ``keep=best``. Its state key is ``ModelCheckpoint``'s, so older checkpoints resume.
    """

    def __init__(self, *args: Any, keep: str = "best", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keep = keep

    @property
    def state_key(self) -> str:
        return super().state_key.replace(type(self).__qualname__, "ModelCheckpoint", 1)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        whole = self.keep == "all" or filepath == self.last_model_path  # last: set before it is saved
        weights_only = self.save_weights_only
        self.save_weights_only = weights_only or not whole
        try:
            super()._save_checkpoint(trainer, filepath)
        finally:
            self.save_weights_only = weights_only


class EpochLines(pl.callbacks.ProgressBar):
    """A progress bar for logs and CI: one line per epoch (the epoch's mean training loss, not the last batch's)."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self._started = self._fit_started = 0.0
        self._first_epoch = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()  # a mid-epoch resume has no on_train_epoch_start
        self._fit_started, self._first_epoch = self._started, trainer.current_epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        metrics = trainer.callback_metrics
        shown = [f"{key}={float(metrics[key]):.4f}" for key in CURVE_KEYS if key in metrics]
        seconds = time.perf_counter() - self._started
        print(
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {'  '.join(shown)}  ({seconds:.1f} s"
            f"{run_time_left(trainer, time.perf_counter() - self._fit_started, self._first_epoch)})",
            flush=True,
        )


def run_time_left(trainer: pl.Trainer, elapsed: float, first_epoch: int) -> str:
    """``; run 0:42, about 1:40 left``: the fit's time so far and the epochs left at its mean epoch's pace
    (``up to`` where early stopping may end it sooner)."""
    done = trainer.current_epoch + 1 - first_epoch
    left = (trainer.max_epochs or 0) - trainer.current_epoch - 1
    if done <= 0 or left <= 0:
        return f"; run {_clock(elapsed)}"
    stopping = any(isinstance(c, pl.callbacks.EarlyStopping) for c in trainer.callbacks)
    return f"; run {_clock(elapsed)}, {'up to ' if stopping else ''}about {_clock(elapsed / done * left)} left"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LiveBar(pl.callbacks.RichProgressBar):
    """Lightning's rich bar, numbering epochs from 1 as every other place a person reads does."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = f"Epoch {current_epoch + 1}"
        if self.trainer.max_epochs is not None:
            description += f"/{self.trainer.max_epochs}"
        return f"{description:{len(self.validation_description)}}"


def progress_bar(refresh_rate: int = 10) -> pl.callbacks.ProgressBar:
    """A live rich bar in a terminal, one line per epoch otherwise (logs, CI, SLURM)."""
    import sys

    if sys.stdout.isatty():
        return LiveBar(refresh_rate=refresh_rate, leave=True)
    return EpochLines()
