"""The disk a job and a sweep take at their peak, from the parameter count and the optimizer; refused up front.

A checkpoint holds the weights (float32: 4 bytes a parameter) and, to resume, the optimizer's state: as many
tensors of the weights' size again as the optimizer keeps per parameter (Adam 2 moments, SGD with momentum 1,
...). Under ``checkpoints.keep=best`` (training/callbacks.py ``BestAndLast``) a job holds the best weights and
``last.ckpt`` whole while it trains; each checkpoint is written as a temporary file beside the old one and
renamed (atomic), so for a moment a second whole checkpoint is on disk. At a successful end the best weights
alone are kept. ``keep=all`` keeps best and last whole. Logs (results.json, metrics, plots, predictions,
W&B offline) are allowed ``LOG_BYTES`` a job. A sweep's peak: every job's end size, plus the largest
peak-minus-end of the jobs that run at once (``hydra.launcher.n_jobs``; every job for submitit's array).

The free space is ``shutil.disk_usage`` of the output dir's nearest existing parent; the environment variable
``EXPERIMENTS_FREE_BYTES`` replaces it (a test hook: the tests simulate a small disk with it).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError

FREE_BYTES_ENV = "EXPERIMENTS_FREE_BYTES"
#: A job's logs, record, plots and predictions (a TINY_ALEXNET run: 0.1 MB; W&B offline and long runs more).
LOG_BYTES = 5 * 2**20
BYTES_PER_PARAM = 4  # float32


@dataclass(frozen=True)
class JobDisk:
    """One job's bytes: ``peak`` while it trains, ``end`` once it has finished (ok)."""

    peak: int
    end: int


def optimizer_slots(optimizer: Any) -> int:
    """Tensors of the weights' size the optimizer keeps per parameter (its state in a resumable checkpoint)."""
    settings = OmegaConf.to_container(optimizer, resolve=True) if isinstance(optimizer, DictConfig) else {}
    settings = settings if isinstance(settings, dict) else {}
    name = str(settings.get("_target_", "")).rsplit(".", 1)[-1].lower()
    momentum = bool(settings.get("momentum") or 0)
    if name in ("adam", "adamw", "nadam", "radam", "adamax"):
        return 2 + bool(settings.get("amsgrad"))
    if name == "sgd":
        return int(momentum)
    if name == "rmsprop":
        return 1 + int(momentum) + bool(settings.get("centered"))
    if name in ("adagrad", "asgd"):
        return 1
    return 2  # another optimizer (SDLM, Adadelta, ...): assume Adam's two, the common worst case


def job_disk(params: int, cfg: DictConfig) -> JobDisk:
    """A job's peak and end bytes for ``params`` parameters, its optimizer and ``checkpoints.keep``."""
    weights = params * BYTES_PER_PARAM
    whole = weights * (1 + optimizer_slots(cfg.get("optimizer")))
    if OmegaConf.select(cfg, "checkpoints.keep", default="best") == "all":
        return JobDisk(peak=3 * whole + LOG_BYTES, end=2 * whole + LOG_BYTES)
    return JobDisk(peak=weights + 2 * whole + LOG_BYTES, end=weights + LOG_BYTES)


def params_of(cfg: DictConfig) -> int:
    """The network's parameter count from the layer table (the dry run's), built once per distinct network."""
    from experiments.cli.layers_command import network_totals

    return int(network_totals(cfg)["params"])


def concurrent_jobs(launcher: Any, jobs: int) -> int:
    """How many jobs the launcher runs at once: 1 (basic), ``n_jobs`` (parallel), every job (submitit, other)."""

    def get(key: str, default: Any = None) -> Any:
        try:
            return OmegaConf.select(launcher, key, default=default) if launcher is not None else default
        except Exception:  # an interpolation that resolves only inside Hydra's launch
            return default

    if str(get("_target_", "BasicLauncher")).endswith("BasicLauncher"):
        return 1
    for key in ("n_jobs", "array_parallelism"):
        value = get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return min(value, jobs)
    return jobs


def sweep_peak(disks: list[JobDisk], at_once: int) -> int:
    """Every job's end size, plus the largest peak-minus-end of ``at_once`` jobs running together."""
    extra = sorted((d.peak - d.end for d in disks), reverse=True)[: max(1, at_once)]
    return sum(d.end for d in disks) + sum(extra)


def free_bytes(output_dir: str | Path) -> tuple[int, Path]:
    """Free bytes where ``output_dir`` will be (its nearest existing parent), and that parent.

    ``EXPERIMENTS_FREE_BYTES`` replaces the measured number (a test hook).
    """
    where = Path(output_dir).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    forced = os.environ.get(FREE_BYTES_ENV)
    if forced is not None and forced.strip().isdigit():
        return int(forced), where
    return shutil.disk_usage(where).free, where


def size(n: float) -> str:
    """Bytes as a person reads them (decimal units, as ``df -H`` and the issue's numbers)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def later_jobs(check: Any) -> int:
    """A fair study's jobs after its tuning stage (at most: the extra seeds' rounds may stop early)."""
    if getattr(check, "fair", None) is None:
        return 0
    from experiments.sweeps.fair_plan import planned_total

    fair = check.fair
    return max(0, planned_total(fair) + len(fair.arms) * fair.extra_per_arm - len(check.jobs))


def sweep_disk(configs: list[DictConfig], launcher: Any, later: int = 0) -> tuple[JobDisk, int, int]:
    """(the largest job's disk, the sweep's peak, jobs at once) for the jobs that will run; ``later`` jobs
    (a fair study's later stages, not composed yet) are counted as the largest."""
    disks = [job_disk(params_of(cfg), cfg) for cfg in configs]
    disks += [max(disks, key=lambda d: d.peak)] * later
    at_once = concurrent_jobs(launcher, len(disks))
    return max(disks, key=lambda d: d.peak), sweep_peak(disks, at_once), at_once


def disk_line(
    configs: list[DictConfig], launcher: Any, output_dir: str | Path, later: int = 0
) -> tuple[str, bool]:
    """The dry run's line on the disk, and whether it fits in the free space of ``output_dir``."""
    largest, peak, at_once = sweep_disk(configs, launcher, later)
    free, where = free_bytes(output_dir)
    line = (
        f"Disk: {size(largest.peak)} a job at its peak (checkpoints while training), {size(largest.end)} once "
        f"done; the sweep at its peak {size(peak)} ({len(configs) + later} jobs, {at_once} at once); "
        f"{size(free)} free in {where}"
    )
    return line, peak <= free


def refuse_full_disk(
    configs: list[DictConfig], launcher: Any, output_dir: str | Path, what: str, later: int = 0
) -> None:
    """A ConfigError (one line: the numbers and the dir) where the peak would not fit in the free space."""
    if not configs:
        return
    free, where = free_bytes(output_dir)
    if not os.access(where, os.W_OK):
        return  # a dir nobody can write to is refused as that (cli/train.py), not as a full disk
    largest, peak, at_once = sweep_disk(configs, launcher, later)
    if peak > free:
        raise ConfigError(
            "checkpoints",
            f"{what} would need {size(peak)} of disk at its peak ({size(largest.peak)} a job, {at_once} at "
            f"once) but {where} has {size(free)} free (for {output_dir}); nothing was started. Free space, "
            "choose another hydra.run.dir/hydra.sweep.dir, or run fewer jobs at once (hydra.launcher.n_jobs)",
        )


#: Free space above which a single run is not sized: the largest model here (AlexNet, ~62 M parameters) peaks
#: at about 1.6 GB with Adam (docs/benchmarks.md), so sizing it (which builds the network, importing torch)
#: would only delay the run's first line.
PLENTY = 16 * 2**30


def refuse_full_disk_for_run(cfg: DictConfig) -> None:
    """A single run's disk check: sized only where the output dir's free space is below :data:`PLENTY`."""
    free, where = free_bytes(cfg.hydra.run.dir)
    if free < PLENTY and os.access(where, os.W_OK):
        refuse_full_disk([cfg], None, cfg.hydra.run.dir, "this run")


def print_disk(check: Any) -> None:
    """For the dry run: the disk line of the sweep's valid jobs that will run (a note where it would not fit)."""
    skip = set(check.identical) if check.reuse_identical else set()
    configs = [c for n, c in enumerate(check.configs) if c is not None and n not in skip]
    if not configs:
        return
    line, fits = disk_line(configs, check.launcher, check.output_dir, later_jobs(check))
    print(line if fits else f"{line}: it would not fit, so the sweep would be refused")
