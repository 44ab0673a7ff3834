"""The task function Hydra runs for each job: from a composed config to ``results.json`` in its run dir.

It skips finished jobs of a resumed sweep, reuses the record of a job that is the same experiment as an
earlier one, validates where the config was not checked when it was composed, wraps the job in the DDP
rank launcher, and records a failed sweep job so that the sweep goes on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError, validate
from experiments.records.run_record import RunRecord


def train(
    cfg: DictConfig,
    *,
    checked: bool = False,
    raise_errors: bool = False,
    identical: dict[int, int] | None = None,
) -> float | None:
    """The task function: one job, from a composed config to ``results.json`` in its run dir.

    ``checked``: the config was validated when it was composed (no second validation).
    ``raise_errors``: a single run raises bad input (the caller prints it) instead of exiting 2.
    ``identical``: sweep jobs that are the same experiment as an earlier job; they reuse its record.
    In a sweep a failing job is recorded in its ``results.json`` and the sweep goes on; with
    ``sweep.resume`` a job whose ``results.json`` says ``ok`` is skipped.
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from experiments.cli.console import quiet_library_warnings
    from experiments.records.lock import claim_job

    quiet_library_warnings()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    output_dir = Path(cfg.paths.output_dir)
    if multirun and cfg.get("sweep", {}).get("resume"):
        finished = _finished_result(output_dir)
        if finished is not None:
            print(f"Skipping finished job {output_dir} (sweep.resume)")
            return _objective(cfg, finished.metrics)
    if multirun and (held := claim_job(output_dir)):  # released as the job ends (sweeps/progress.py)
        print(f"Skipping job {output_dir}: {held}", file=sys.stderr)
        return None
    if multirun and identical and HydraConfig.get().job.num in identical:
        reused = _reuse_identical(cfg, identical[HydraConfig.get().job.num])
        if reused is not None:
            return reused
    try:
        if not checked:
            validate(cfg)
    except ConfigError as error:
        if not multirun:
            _refuse(error, raise_errors)
        from experiments.records.record_writer import RecordWriter

        RecordWriter(output_dir).update(status="failed", error=f"ConfigError: {error}")
        print(f"Config error: {error}", file=sys.stderr)
        return None
    from experiments.data.errors import DataSourceError
    from experiments.training.job import run_job
    from experiments.training.ranks import RankLauncher, check_devices, processes_to_launch
    from experiments.training.signals import Interrupted

    try:
        check_devices(cfg.trainer)
        world_size = processes_to_launch(cfg.trainer)
        share = _device_share(cfg) if multirun else None
        try:
            with RankLauncher(OmegaConf.to_container(cfg, resolve=True), world_size):
                return run_job(cfg, share=share)
        finally:
            if share is not None:
                share.release()
    except Interrupted as stop:
        print(
            f"Interrupted ({stop}); results.json says interrupted. Continue with: resume={output_dir}",
            file=sys.stderr,
        )
        if raise_errors:
            raise
        sys.exit(stop.exit_code)
    except (DataSourceError, ConfigError) as error:
        if not multirun:
            _refuse(error, raise_errors)
        print(f"Job failed ({output_dir}): {error}", file=sys.stderr)
    except Exception as error:  # recorded in results.json by run_job; a sweep goes on
        if not multirun:
            raise
        print(f"Job failed ({output_dir}): {type(error).__name__}: {error}", file=sys.stderr)
    return float("nan") if _searching() else None


def _reuse_identical(cfg: DictConfig, earlier: int) -> float | None:
    """Record this sweep job as earlier job ``earlier``'s experiment; None when that one did not end ok."""
    from experiments.records.identity import current_job
    from experiments.sweeps.identical import reuse_earlier_job

    output_dir = Path(cfg.paths.output_dir)
    job = current_job(output_dir)
    identity = {
        "name": job.name,
        "overrides": list(job.overrides),
        "swept": job.swept,
        "choices": job.choices,
        "seed": cfg.seed,
        "run_dir": output_dir,
    }
    if not reuse_earlier_job(output_dir, output_dir.parent / str(earlier), identity):
        return None
    print(
        f"Job {output_dir.name} is the same experiment as job {earlier}: its record is reused, not retrained"
    )
    finished = _finished_result(output_dir)
    return _objective(cfg, finished.metrics if finished else {})


def _device_share(cfg: DictConfig) -> Any:
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


def _objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    key = cfg.optimized_metric
    return metrics.get(f"{key}_best", metrics.get(key))


def _refuse(error: Exception, raise_errors: bool) -> None:
    if raise_errors:
        raise error
    fail(error)


def fail(error: Exception) -> None:
    """One line and exit code 2 for bad input (the traceback with ``HYDRA_FULL_ERROR=1``)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    kind = "Config error" if isinstance(error, ConfigError) else "Error"
    print(f"{kind}: {error}", file=sys.stderr)
    sys.exit(2)


def _searching() -> bool:
    """A search sweeper (Optuna) needs a number from every trial; NaN marks a failed one."""
    from hydra.core.hydra_config import HydraConfig

    return "direction" in HydraConfig.get().sweeper


def _finished_result(run_dir: Path) -> RunRecord | None:
    record = RunRecord.read(run_dir)
    return record if record.ok else None
