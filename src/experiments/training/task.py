"""The task function Hydra runs for each job: from a composed config to ``results.json`` in its run dir.

It validates where the config was not checked when it was composed, wraps the job in the DDP rank
launcher, and records a failed sweep job so that the sweep goes on. A sweep job's launcher-side steps
come before it (:mod:`experiments.sweeps.sweep_task`: skip a finished job, take its lock, reuse an
identical job's record, its device share); the console's one line for bad input is the CLI's.
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError, validate

if TYPE_CHECKING:
    from experiments.training.context import DeviceShare

# Deprecations inside the libraries we call, not in the user's code or config.
LIBRARY_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)",  # pytorch_lightning's _pytree on torch >= 2.9
    r".*`TensorBoard` is not installed.*",
)
SRUN_WARNING = r"The `srun` command is available on your system but is not used"


def train(
    cfg: DictConfig,
    *,
    checked: bool = False,
    raise_errors: bool = False,
    device_share: Callable[[DictConfig], DeviceShare] | None = None,
) -> float | None:
    """The task function: one job, from a composed config to ``results.json`` in its run dir.

    ``checked``: the config was validated when it was composed (no second validation).
    ``raise_errors``: a single run stopped by a signal raises ``Interrupted`` (the caller exits) instead
    of exiting with its code. Bad input of a single run (``ConfigError``, ``DataSourceError``) is raised
    for the CLI to print. In a sweep a failing job is recorded in its ``results.json`` and the sweep goes
    on. ``device_share``: takes a sweep job's part of the machine once its config is checked (freed as the
    job ends).
    """
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    quiet_library_warnings()
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    output_dir = Path(cfg.paths.output_dir)
    try:
        if not checked:
            validate(cfg)
    except ConfigError as error:
        if not multirun:
            raise
        from experiments.records.record_writer import RecordWriter

        RecordWriter(output_dir).update(status="failed", error=f"ConfigError: {error}")
        print(f"Config error: {error}", file=sys.stderr)
        return None
    from experiments.data.errors import DataSourceError
    from experiments.records.lock import cluster_rank
    from experiments.training.job import run_job
    from experiments.training.ranks import RankLauncher, check_devices, processes_to_launch
    from experiments.training.signals import Interrupted

    try:
        check_devices(cfg.trainer)
        world_size = processes_to_launch(cfg.trainer)
        share = device_share(cfg) if device_share is not None else None
        try:
            with RankLauncher(OmegaConf.to_container(cfg, resolve=True), world_size):
                return run_job(cfg, share=share, rank_worker=cluster_rank() > 0)
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
            raise
        print(f"Job failed ({output_dir}): {error}", file=sys.stderr)
    except Exception as error:  # recorded in results.json by run_job; a sweep goes on
        if not multirun:
            raise
        print(f"Job failed ({output_dir}): {type(error).__name__}: {error}", file=sys.stderr)
    from hydra.core.hydra_config import HydraConfig

    return failed_value(HydraConfig.get().sweeper)


def failed_value(sweeper: Mapping[str, Any]) -> float | None:
    """What a failed sweep job returns: NaN to a search sweeper (Optuna needs a number from every trial, and
    NaN marks a failed one), None to a grid. Launchers that record a job whose process died return it too."""
    return math.nan if "direction" in sweeper else None


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """What a sweeper optimizes: ``optimized_metric`` (its best over the epochs where recorded)."""
    key = cfg.optimized_metric
    return metrics.get(f"{key}_best", metrics.get(key))


def quiet_library_warnings() -> None:
    """Hide the libraries' own deprecation warnings that a user cannot act on; and Lightning's "`srun` is
    available but not used" on a machine that has ``srun`` but runs this job outside SLURM (no
    ``SLURM_JOB_ID``): inside a SLURM allocation the hint can matter, so it stays there."""
    for pattern in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    if not os.environ.get("SLURM_JOB_ID"):
        warnings.filterwarnings("ignore", message=SRUN_WARNING)
