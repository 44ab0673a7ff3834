"""The typed context of one job: what the recipe needs besides the config, built by :mod:`.job`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from experiments.records.identity import JobInfo
from experiments.records.record_writer import RecordWriter

if TYPE_CHECKING:
    from pytorch_lightning import Callback
    from pytorch_lightning.loggers import Logger

    from experiments.sweeps.slots import JobDevices


@dataclass
class JobContext:
    """One job: its config (``cfg`` as composed, ``config`` resolved and redacted), identity and records.

    ``results`` is None on extra DDP ranks, which train but write no records.
    """

    cfg: DictConfig
    config: dict[str, Any]
    identity: JobInfo
    started: float
    results: RecordWriter | None = None
    loggers: list[Logger] = field(default_factory=list)
    share: JobDevices | None = None
    stop: Callback | None = None

    @property
    def run_dir(self) -> Path:
        return Path(self.cfg.paths.output_dir)

    @property
    def logged_config(self) -> dict[str, Any]:
        """The config as the loggers record it, with each group's chosen option and a sweep job's swept keys."""
        extra = {"choices": self.identity.choices} if self.identity.choices else {}
        if self.identity.swept:
            extra["swept"] = self.identity.swept
        return {**self.config, **extra}
