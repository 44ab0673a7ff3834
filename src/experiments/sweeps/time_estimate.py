"""How long a job and a sweep will take, before any starts; and how long a running sweep has left.

Torch-free arithmetic: a job's seconds are

    overhead_s + epochs x train images x F / train rate + validations x val images x F / eval rate
               + test images x F / eval rate

with ``F`` the network's forward FLOPs per image (the layer table) and the rates in forward FLOPs per
second of this machine's device kind (a training step counts the forward FLOPs of its images, so its
backward pass is inside the rate). The rates come from :data:`CALIBRATION_VARIABLE`'s JSON file, else
``~/.cache/experiments/calibration.json``: measured once by timed steps of a small network
(:mod:`experiments.training.calibration`), or derived from finished runs' records (images/s and FLOPs).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.records.run_record import FINAL_STATUSES, RESULTS_FILE, RunRecord

CALIBRATION_VARIABLE = "EXPERIMENTS_CALIBRATION"
#: Images in the dataset's own parts: (train pool, official test set or None). Split by the fractions.
KNOWN_SIZES: dict[str, tuple[int, int | None]] = {
    "mnist": (60_000, 10_000),
    "fashion_mnist": (60_000, 10_000),
    "cifar10": (50_000, 10_000),
    "flowers17": (1_360, None),
    "digits": (1_797, None),
}
DEFAULT_OVERHEAD_S = 1.0  # data, model and Trainer set-up of a job, where no record says more (bench_time_estimate)


@dataclass(frozen=True)
class Rate:
    """One device kind's speed: forward FLOPs per second in training and in evaluation, and a job's fixed cost."""

    train_flops_per_s: float
    eval_flops_per_s: float
    overhead_s: float = DEFAULT_OVERHEAD_S
    source: str = "measured"
    when: str = ""


def calibration_file() -> Path:
    configured = os.environ.get(CALIBRATION_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "experiments" / "calibration.json"


def read_rates(path: Path | None = None) -> dict[str, Rate]:
    """The calibration file's rates by device kind (``cpu``, ``cuda``); {} when missing or unreadable."""
    path = path or calibration_file()
    try:
        devices = json.loads(path.read_text())["devices"]
        return {kind: Rate(**values) for kind, values in devices.items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_rate(kind: str, rate: Rate, path: Path | None = None) -> None:
    """Add or replace one device kind's rate in the calibration file (atomically)."""
    path = path or calibration_file()
    rates = read_rates(path) | {kind: rate}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"version": 1, "devices": {k: asdict(v) for k, v in rates.items()}}, indent=2))
    os.replace(tmp, path)


def device_kind(cfg: DictConfig, known: Iterable[str] = ()) -> str:
    """``cpu`` for ``trainer.accelerator=cpu``, ``cuda`` for a GPU accelerator; for ``auto``: ``cuda`` where the
    machine has an NVIDIA driver (``/proc/driver/nvidia``, no torch) and a GPU rate is calibrated, ``cpu`` where
    it has none, else ``auto`` (the calibration measures the device torch would pick)."""
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="auto"))
    if accelerator == "cpu":
        return "cpu"
    if accelerator in ("gpu", "cuda"):
        return "cuda"
    if not Path("/proc/driver/nvidia").exists():
        return "cpu"
    return "cuda" if "cuda" in known else "auto"


def rates_from_records(records: Iterable[RunRecord]) -> dict[str, Rate]:
    """Rates from finished runs: training from FLOPs x images/s, evaluation from the fit's time outside
    the training steps, the fixed cost from the wall time outside the fit (medians over the runs)."""
    found: dict[str, list[tuple[float, float | None, float | None]]] = {}
    for record in records:
        device = record.device or {}
        if not (record.ok and record.flops and record.images_per_s) or int(device.get("world_size") or 1) != 1:
            continue
        kind = "cpu" if device.get("accelerator") == "cpu" else "cuda"
        sizes = record.data_info.get("sizes") or {}
        eval_rate = overhead = None
        outside = (record.fit_time_s or 0) - (record.train_seconds or 0)
        if sizes.get("val") and record.epochs and outside > 0:
            eval_rate = record.flops * sizes["val"] * record.epochs / outside
        if record.wall_time_s and record.fit_time_s:
            overhead = max(0.0, record.wall_time_s - record.fit_time_s)
        found.setdefault(kind, []).append((record.flops * record.images_per_s, eval_rate, overhead))
    rates = {}
    for kind, rows in found.items():
        train = statistics.median(r[0] for r in rows)
        evals = [r[1] for r in rows if r[1]]
        overheads = [r[2] for r in rows if r[2] is not None]
        rates[kind] = Rate(
            train_flops_per_s=train,
            eval_flops_per_s=statistics.median(evals) if evals else 3 * train,
            overhead_s=statistics.median(overheads) if overheads else DEFAULT_OVERHEAD_S,
            source=f"{len(rows)} finished run(s)",
            when=time.strftime("%Y-%m-%d"),
        )
    return rates


def records_under(root: Path, limit: int = 300) -> list[RunRecord]:
    """The newest finished runs' records under ``root`` (an ``outputs/`` dir), at most ``limit``."""
    if not root.is_dir():
        return []
    files = sorted(root.glob(f"**/{RESULTS_FILE}"), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    return [RunRecord.read(f.parent) for f in files]


def rate_for(kind: str, outputs: Path | None = None, measure: bool = True) -> tuple[str, Rate | None]:
    """The rate of ``kind`` (``auto``: the best device): from the file, else from records under
    ``outputs`` (then saved), else measured once (imports torch; then saved); None when ``measure`` is off."""
    rates = read_rates()
    if kind == "auto":
        kind = "cuda" if "cuda" in rates else "cpu" if "cpu" in rates else kind
    if kind in rates:
        return kind, rates[kind]
    derived = rates_from_records(records_under(outputs)) if outputs is not None else {}
    if kind == "auto" and derived:
        kind = "cuda" if "cuda" in derived else "cpu"
    if kind in derived:
        write_rate(kind, derived[kind])
        return kind, derived[kind]
    if not measure:
        return kind, None
    from experiments.training.calibration import measure_rate

    kind, values = measure_rate(kind)
    rate = Rate(**values, when=time.strftime("%Y-%m-%d"))
    write_rate(kind, rate)
    return kind, rate


# ---- one job --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTime:
    seconds: float
    epochs: int
    images: dict[str, int]
    up_to: bool  # early stopping may end it sooner


def split_sizes(cfg: DictConfig) -> dict[str, int] | None:
    """Images in train/val/test as the data config splits its dataset (None for an unknown dataset)."""
    known = KNOWN_SIZES.get(str(OmegaConf.select(cfg, "data.name", default="")))
    if known is None:
        return None
    pool, official_test = known
    val_f, test_f = float(cfg.data.val_fraction), float(cfg.data.test_fraction)
    if official_test is None:
        val, test = round(pool * val_f), round(pool * test_f)
        return {"train": pool - val - test, "val": val, "test": test}
    val = round(pool * val_f)
    return {"train": pool - val, "val": val, "test": official_test}


def _limited(images: int, batch: int, limit: Any) -> int:
    """Images an epoch reads under ``trainer.limit_*_batches`` (None: all; int: batches; float: a share)."""
    if limit is None or images == 0:
        return images
    batches = math.ceil(images / batch)
    if isinstance(limit, float) and limit <= 1.0:
        return min(images, int(batches * limit) * batch)
    return min(images, int(limit) * batch)


def job_time(cfg: DictConfig, flops_per_image: float, rate: Rate) -> JobTime | None:
    """The estimate of one job; None where its dataset's size is unknown (an image folder)."""
    sizes = split_sizes(cfg)
    if sizes is None:
        return None
    trainer = cfg.trainer
    batch = int(cfg.data.batch_size)
    eval_batch = int(OmegaConf.select(cfg, "data.eval_batch_size", default=None) or batch)
    images = {
        "train": _limited(sizes["train"], batch, trainer.get("limit_train_batches")),
        "val": _limited(sizes["val"], eval_batch, trainer.get("limit_val_batches")),
        "test": _limited(sizes["test"], eval_batch, trainer.get("limit_test_batches")),
    }
    epochs = int(trainer.get("max_epochs") or 1)
    validations = epochs // int(trainer.get("check_val_every_n_epoch") or 1)
    seconds = (
        rate.overhead_s
        + epochs * images["train"] * flops_per_image / rate.train_flops_per_s
        + (validations * images["val"] + images["test"]) * flops_per_image / rate.eval_flops_per_s
    )
    up_to = OmegaConf.select(cfg, "callbacks.early_stopping", default=None) is not None
    return JobTime(seconds, epochs, images, up_to)


def parallel_seconds(seconds: Sequence[float], workers: int) -> float:
    """Wall time of jobs handed out in order to ``workers`` slots (each to the first free one)."""
    slots = [0.0] * max(1, workers)
    for value in seconds:
        slots[slots.index(min(slots))] += value
    return max(slots)


def parallelism(config: DictConfig) -> int:
    """Jobs the launcher runs at once: ``hydra.launcher.n_jobs`` (parallel), ``array_parallelism``
    (submitit), Ray's cores over each job's (``ray.init.num_cpus`` or this machine's, / ``ray.remote.num_cpus``),
    else 1."""
    launcher = OmegaConf.select(config, "hydra.launcher", default=None) or {}
    target = str(launcher.get("_target_", ""))
    if "parallel" in target.lower():
        value = launcher.get("n_jobs")
    elif target.endswith("ray_launcher.OrderedRayLauncher"):
        cores = OmegaConf.select(launcher, "ray.init.num_cpus", default=None) or os.cpu_count() or 1
        value = int(cores // (OmegaConf.select(launcher, "ray.remote.num_cpus", default=None) or 1))
    elif "submitit" in target:
        value = launcher.get("array_parallelism")
    else:
        return 1
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``: as a person plans."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


# ---- a running sweep ------------------------------------------------------------------------------


def remaining_text(sweep_dir: Path, since: float | None, total: int | None, workers: int) -> str:
    """``, about 3 min left`` from the mean wall time of the jobs finished in this sweep x the jobs
    remaining / the launcher's parallelism; "" before a job has finished (or with no total)."""
    walls, done = [], 0
    for path in RunRecord.files_of_sweep(sweep_dir):
        record = RunRecord.read(path.parent)
        if record.status not in FINAL_STATUSES:
            continue
        done += 1
        fresh = since is None or path.stat().st_mtime >= since
        if fresh and record.wall_time_s and not record.identical_to and record.status != "skipped":
            walls.append(record.wall_time_s)
    if not walls or total is None:
        return ""
    left = max(0, total - done)
    return f", about {duration(statistics.fmean(walls) * left / max(1, workers))} left" if left else ""
