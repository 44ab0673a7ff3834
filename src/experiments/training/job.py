"""One job's lifecycle around the recipe: its ``results.json`` status, signals, W&B's finish, the last lines.

The CLI wraps a job in the DDP rank launcher where it needs one (:mod:`experiments.training.ranks`);
extra ranks call :func:`run_job` with ``rank_worker=True`` from :mod:`experiments.training.rank_worker`.
"""

from __future__ import annotations

import time
import traceback
from contextlib import suppress
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from experiments.records.atomic import NoSpaceLeft, no_space
from experiments.records.identity import current_job
from experiments.records.record_writer import RecordWriter, versions
from experiments.records.redaction import carry_secrets, config_secrets, redact
from experiments.records.run_record import RunRecord
from experiments.training.context import JobContext

if TYPE_CHECKING:
    from experiments.training.context import DeviceShare


def run_job(cfg: DictConfig, *, rank_worker: bool = False, share: DeviceShare | None = None) -> float | None:
    """Train and test one configuration; returns ``optimized_metric`` (its best value) for sweepers.

    ``rank_worker=True`` is an extra DDP rank: it trains but writes no records and prints nothing.
    ``share``: the job's part of the machine in a parallel sweep (taken and freed by the sweep's side).
    A SIGINT/SIGTERM ends the job at the next batch with ``checkpoints/interrupted.ckpt`` and
    ``status: interrupted`` (raised as :class:`experiments.training.signals.Interrupted`).
    """
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from experiments.training.loggers import build_loggers, finish_wandb, wandb_identity
    from experiments.training.recipe import train_and_test
    from experiments.training.report import next_steps, print_final
    from experiments.training.requeue import saved_for_requeue
    from experiments.training.signals import GracefulStop, Interrupted

    carry_secrets(config_secrets(OmegaConf.to_container(cfg, resolve=False)))  # typed in an override
    job = JobContext(
        cfg=cfg,
        config=redact(OmegaConf.to_container(cfg, resolve=True)),
        identity=current_job(cfg.paths.output_dir),
        started=time.perf_counter(),
        share=share,
    )
    began = time.time()
    previous = RunRecord.read(job.run_dir) if cfg.get("resume") and not rank_worker else RunRecord()
    if not rank_worker:
        if not cfg.get("resume"):
            from experiments.training.checkpoints import set_aside_checkpoints

            if aside := set_aside_checkpoints(job.run_dir):
                print(f"Starting from scratch: the earlier attempt's checkpoints are kept in {aside}")
        job.results = RecordWriter(job.run_dir)
        job.results.update(**_identity_fields(job))
    status = "failed"
    objective: float | None = None
    try:
        if not rank_worker:
            job.stop = GracefulStop(job.run_dir / "checkpoints").install()
        wandb_id = (previous.wandb or {}).get("run_id")
        job.loggers = build_loggers(cfg.logger, job.identity, wandb_id=wandb_id)
        if job.results and launched_as_rank_zero():
            job.results.update(wandb=wandb_identity(job.loggers))
        objective = train_and_test(job)
        status = "ok"
    except (Interrupted, SIGTERMException, KeyboardInterrupt) as error:
        status = "interrupted"
        signum = getattr(error, "signum", 15 if isinstance(error, SIGTERMException) else 2)
        requeue = saved_for_requeue(job.run_dir, began)  # SLURM preemption: it starts again (requeue.py)
        if job.results:
            job.results.update(
                status="requeued" if requeue else "interrupted",
                error=f"requeued by SLURM; continues from {requeue.name}" if requeue else f"stopped by signal {signum}",
                wall_time_s=_elapsed(job),
            )
        raise Interrupted(signum) from None
    except BaseException as error:
        full = no_space(error)
        if job.results:
            with suppress(NoSpaceLeft):  # where even the record cannot be written, the earlier one stays
                job.results.update(
                    status="failed",
                    error=str(full) if full else f"{type(error).__name__}: {error}",
                    traceback=traceback.format_exc().splitlines()[-20:],
                    wall_time_s=_elapsed(job),
                )
        if full is not None:
            from experiments.records.lock import no_space_error

            raise no_space_error(full) from error
        raise
    finally:
        if job.stop is not None:
            job.stop.uninstall()
        sync = finish_wandb(job.loggers, exit_code=0 if status == "ok" else 1)
        if sync and job.results:
            job.results.update(wandb_sync=sync)
    if job.results and job.results.record.ok and job.identity.sweep_dir is None:
        print_final(job.run_dir, job.results.record, next_steps(job, sync))
    return objective


def _identity_fields(job: JobContext) -> dict[str, Any]:
    cfg, identity = job.cfg, job.identity
    return dict(
        status="running",
        error=None,
        run_dir=job.run_dir,
        name=identity.name,
        overrides=list(identity.overrides),
        group=identity.group,
        swept=identity.swept,
        choices=identity.choices,
        model=cfg.model.name,
        data=cfg.data.name,
        seed=cfg.seed,
        study_stage=OmegaConf.select(cfg, "study.stage", default=None),
        tuned_keys=list(OmegaConf.select(cfg, "study.tuned", default=None) or []),
        resumed_from=cfg.get("resume"),
        started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        versions=versions(),
    )


def _elapsed(job: JobContext) -> float:
    return time.perf_counter() - job.started


def launched_as_rank_zero() -> bool:
    """Whether this process is rank zero of its job (extra DDP or SLURM ranks are not), from Lightning's env."""
    from pytorch_lightning.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
