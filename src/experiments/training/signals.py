"""Graceful stop: the first SIGINT/SIGTERM ends the run at the next batch boundary with a checkpoint.

A second SIGINT exits at once. The job then records ``status: interrupted`` and exits non-zero
(128 + the signal number); ``resume=...`` continues from ``checkpoints/interrupted.ckpt``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

INTERRUPTED_CHECKPOINT = "interrupted.ckpt"


class Interrupted(BaseException):
    """Raised at a batch boundary after SIGINT/SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class GracefulStop(pl.Callback):
    """Turns SIGINT/SIGTERM into :class:`Interrupted` after the current batch and saves a checkpoint."""

    def __init__(self, checkpoint_dir: str | Path) -> None:
        self.checkpoint_dir = Path(checkpoint_dir)
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> GracefulStop:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            os._exit(128 + signum)  # a second Ctrl-C: at once
        self.signum = signum

    def _check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check()

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check()

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._check()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        if isinstance(exception, Interrupted | SIGTERMException | KeyboardInterrupt) and trainer.training:
            trainer.save_checkpoint(self.checkpoint_dir / INTERRUPTED_CHECKPOINT)
