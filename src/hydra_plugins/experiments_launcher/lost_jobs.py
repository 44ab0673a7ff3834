"""A sweep job that ended without returning (its worker killed, its SLURM job cancelled): recorded ``failed``
in its own ``results.json``, so that the sweep goes on, its summary lists the job, and ``sweep.resume=true``
runs it again. Shared by ``hydra/launcher=parallel`` and the submitit launchers (slurm, local)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import open_dict


def run_dir_of(launcher: Any, overrides: Sequence[str], idx: int) -> Path:
    """Job ``idx``'s run dir, as Hydra's ``run_job`` names it (``hydra.sweep.dir``/``hydra.sweep.subdir``)."""
    config = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    with open_dict(config):
        config.hydra.job.id = f"{config.hydra.job.name}_{idx}"
        config.hydra.job.num = idx
    return Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)


def record_failed(run_dir: Path, why: str, **fields: Any) -> None:
    """Mark the job's record ``failed`` with ``why`` (a record that says ``ok`` is left as it is)."""
    from experiments.records.record_writer import RecordWriter
    from experiments.records.run_record import RunRecord

    if RunRecord.read(run_dir).ok:
        return
    RecordWriter.completing(run_dir).update(status="failed", error=why, **fields)


def failed_return(launcher: Any, overrides: Sequence[str], run_dir: Path) -> JobReturn:
    """What a failed sweep job returns: as ``experiments.training.task.train`` does (None, NaN to a search)."""
    from experiments.training.task import failed_value

    ret = JobReturn(overrides=list(overrides), working_dir=str(run_dir), status=JobStatus.COMPLETED)
    ret.return_value = failed_value(launcher.config.hydra.sweeper)
    return ret
