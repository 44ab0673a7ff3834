"""The task function of a sweep job: the launcher side's steps, then the job (:mod:`experiments.training.task`).

With ``sweep.resume`` a job whose record says ``ok`` is skipped; a job another process runs (its run dir's
lock) is skipped; a job that is the same experiment as an earlier one reuses its record; where the launcher
runs jobs side by side, each gets its own device share.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.records.run_record import RunRecord

if TYPE_CHECKING:
    from experiments.sweeps.slots import JobDevices


def sweep_task(
    cfg: DictConfig, *, checked: bool = False, identical: dict[int, int] | None = None
) -> float | None:
    """One job of a ``-m`` sweep (a single run goes straight to the job's task function).

    ``checked``: the config was validated when the grid was composed. ``identical``: sweep jobs that are
    the same experiment as an earlier job (job number -> earlier job number); they reuse its record.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from experiments.records.lock import claim_job, cluster_rank
    from experiments.training.requeue import requeue_checkpoint
    from experiments.training.task import objective, train

    if HydraConfig.get().mode != RunMode.MULTIRUN:
        return train(cfg, checked=checked)
    if os.environ.get("SUBMITIT_EXECUTOR"):
        _honour_early_sigterm()
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("sweep", {}).get("resume"):
        finished = _finished_record(output_dir)
        if finished is not None:
            print(f"Skipping finished job {output_dir} (sweep.resume)")
            return objective(cfg, finished.metrics)
    if (checkpoint := requeue_checkpoint(output_dir)) is not None and not cfg.get("resume"):
        with open_dict(cfg):  # requeued by SLURM: the run goes on from where it was stopped
            cfg.resume = str(checkpoint)
        print(f"Requeued by SLURM: continuing {output_dir} from {checkpoint.name}")
    if cluster_rank() > 0:  # a SLURM task of a DDP job: rank 0 claims the job and writes its record
        return train(cfg, checked=checked)
    if held := claim_job(output_dir):  # released as the job ends (sweeps/progress.py)
        print(f"Skipping job {output_dir}: {held}", file=sys.stderr)
        return None
    if identical and HydraConfig.get().job.num in identical:
        reused = _reuse_identical(cfg, identical[HydraConfig.get().job.num])
        if reused is not None:
            return reused
    return train(cfg, checked=checked, device_share=_device_share)


def _honour_early_sigterm() -> None:
    """submitit's job wrapper ignores SIGTERM ("Bypassing signal SIGTERM"), so a ``scancel`` before training
    starts would go unheard and the job end ``ok``. Until the job's own graceful stop takes over (it restores
    this handler after), SIGTERM stops the job at once; the launcher records it with SLURM's state."""
    from experiments.training.signals import Interrupted

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    signal.signal(signal.SIGTERM, stop)


def _reuse_identical(cfg: DictConfig, earlier: int) -> float | None:
    """Record this sweep job as earlier job ``earlier``'s experiment; None when that one did not end ok."""
    from experiments.records.identity import current_job
    from experiments.sweeps.identical import reuse_earlier_job
    from experiments.training.task import objective

    output_dir = Path(cfg.paths.output_dir)
    job = current_job(output_dir)
    identity = {
        "name": job.name,
        "overrides": list(job.overrides),
        "swept": job.swept,
        "choices": job.choices,
        "seed": cfg.seed,
        "run_dir": output_dir,
        "study_stage": OmegaConf.select(cfg, "study.stage", default=None),
        "tuned_keys": list(OmegaConf.select(cfg, "study.tuned", default=None) or []),
    }
    if not reuse_earlier_job(output_dir, output_dir.parent / str(earlier), identity):
        return None
    print(
        f"Job {output_dir.name} is the same experiment as job {earlier}: its record is reused, not retrained"
    )
    finished = _finished_record(output_dir)
    return objective(cfg, finished.metrics if finished else {})


def _device_share(cfg: DictConfig) -> JobDevices:
    """This sweep job's part of the machine: its own GPU(s) where the launcher runs jobs side by side."""
    from hydra.core.hydra_config import HydraConfig

    from experiments.sweeps.slots import JobDevices, jobs_per_device, parallel_jobs

    sweep_dir = Path(HydraConfig.get().sweep.dir)
    return JobDevices(
        sweep_dir,
        cfg.trainer.accelerator,
        cfg.trainer.devices,
        parallel_jobs(),
        per_device=jobs_per_device(),
    )


def _finished_record(run_dir: Path) -> RunRecord | None:
    record = RunRecord.read(run_dir)
    return record if record.ok else None
