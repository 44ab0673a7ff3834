"""The typed context of one job: what the recipe needs besides the config, built by :mod:`.job`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from omegaconf import DictConfig

from experiments.records.identity import JobInfo
from experiments.records.record_writer import RecordWriter

if TYPE_CHECKING:
    from pytorch_lightning import Callback
    from pytorch_lightning.loggers import Logger


class DeviceShare(Protocol):
    """A job's part of the machine in a parallel sweep, as the job uses it (``sweeps.slots.JobDevices``
    takes and frees it on the launcher side)."""

    threads: int | None

    def trainer_overrides(self) -> dict[str, Any]: ...

    def describe(self) -> dict[str, Any]: ...

    def release(self) -> None: ...


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
    share: DeviceShare | None = None
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
