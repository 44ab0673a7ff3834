"""Sweeps that survive failures: progress lines, a summary of every job, resume, device slots.

:class:`SweepCallback` is a Hydra callback (``hydra.callbacks`` in ``conf/config.yaml``); the job side
(skipping finished jobs, recording failures) lives in :mod:`experiments.cli` and :mod:`experiments.run`.
No torch here: the callback runs in the process that launches the sweep.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.results import RESULTS_FILE

SUMMARY_JSON = "sweep_summary.json"
SUMMARY_MD = "sweep_summary.md"
START_VARIABLE = "EXPERIMENTS_SWEEP_START"
TOTAL_VARIABLE = "EXPERIMENTS_SWEEP_TOTAL"
FINAL_STATUSES = ("ok", "failed", "interrupted", "skipped")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def grid_jobs(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides in a grid sweep (as Hydra's basic sweeper expands them); None for a search."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if "BasicSweeper" not in str(OmegaConf.select(config, "hydra.sweeper._target_", default="BasicSweeper")):
        return None
    task = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    task += [f"{key}={value}" for key, value in params.items()]
    parsed = OverridesParser.create().parse_overrides(task)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None) for job in batch]


def count_jobs(config: DictConfig) -> int | None:
    """Jobs in a grid sweep, or ``n_trials`` of a search sweeper."""
    trials = OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    if trials:
        return int(trials)
    jobs = grid_jobs(config)
    return len(jobs) if jobs is not None else None


def invalid_jobs(argv: Sequence[str]) -> list[str]:
    """For ``-m`` command lines: compose and validate every job of a grid sweep before any starts.

    Returns one line per bad job (empty when all are fine, or when a search sweeper picks the values).
    Runs in the launching process, without torch.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from experiments.config import ConfigError, config_dir, validate

    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    parser = OverridesParser.create()
    fixed = [o for o in parser.parse_overrides(overrides) if not o.is_sweep_override()]
    base = [o.input_line for o in fixed if o.input_line]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        first = compose(config_name="config", overrides=base, return_hydra_config=True)
        jobs = grid_jobs(
            OmegaConf.create(
                {
                    "hydra": {
                        "sweeper": OmegaConf.to_container(first.hydra.sweeper),
                        "overrides": {"task": [o for o in overrides if not o.startswith("hydra.")]},
                    }
                }
            )
        )
        problems = []
        for number, job in enumerate(jobs or []):
            try:
                validate(
                    compose(config_name="config", overrides=[o for o in job if not o.startswith("hydra.")])
                )
            except ConfigError as error:
                problems.append(f"job {number} ({' '.join(job)}): {error}")
    GlobalHydra.instance().clear()
    return problems


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


def job_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job dir: number, overrides, status, error, the main metrics, wall time, device."""
    rows = []
    job_dirs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)
    )
    for job_dir in job_dirs:
        overrides_file = job_dir / ".hydra" / "overrides.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        results_file = job_dir / RESULTS_FILE
        results = json.loads(results_file.read_text()) if results_file.is_file() else {}
        metrics = results.get("metrics") or {}
        device = results.get("device") or {}
        rows.append(
            {
                "job": int(job_dir.name),
                "dir": str(job_dir),
                "overrides": overrides,
                "status": results.get("status", "missing"),
                "error": results.get("error"),
                "test/acc": metrics.get("test/acc"),
                "val/acc_best": metrics.get("val/acc_best"),
                "wall_time_s": results.get("wall_time_s"),
                "device": device.get("assigned") or device.get("root_device"),
            }
        )
    return rows


def write_summary(sweep_dir: Path, rows: Sequence[dict[str, Any]]) -> str:
    """Save ``sweep_summary.json`` and ``sweep_summary.md``; return the Markdown table."""

    def cell(value: Any, digits: int = 4) -> str:
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return "" if value is None else str(value).replace("|", "\\|")

    header = (
        "| job | overrides | status | test/acc | val/acc_best | wall s | device | error |\n"
        + "|---" * 8
        + "|"
    )
    lines = [
        f"| {r['job']} | {cell(' '.join(r['overrides']))} | {r['status']} | {cell(r['test/acc'])} | "
        f"{cell(r['val/acc_best'])} | {cell(r['wall_time_s'], 1)} | {cell(r['device'])} | {cell((r['error'] or '')[:120])} |"
        for r in rows
    ]
    counts = {
        status: sum(r["status"] == status for r in rows) for status in sorted({r["status"] for r in rows})
    }
    table = "\n".join([header, *lines])
    (sweep_dir / SUMMARY_JSON).write_text(json.dumps({"counts": counts, "jobs": list(rows)}, indent=2))
    (sweep_dir / SUMMARY_MD).write_text(f"# Sweep {sweep_dir}\n\n{counts}\n\n{table}\n")
    return table


class SweepCallback(Callback):
    """Prints ``[k/N]`` lines as jobs start and end; at the end saves and prints the sweep summary."""

    failed_jobs = 0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ[START_VARIABLE] = str(time.time())
        total = count_jobs(config)
        os.environ[TOTAL_VARIABLE] = str(total or "?")
        print(f"Sweep of {total} jobs into {config.hydra.sweep.dir}", flush=True)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode is None or str(config.hydra.mode) != "RunMode.MULTIRUN":
            return
        print(
            f"[{config.hydra.job.num + 1}/{os.environ.get(TOTAL_VARIABLE, '?')}] start  "
            f"{','.join(config.hydra.overrides.task)}  (sweep time {self._elapsed()})",
            flush=True,
        )

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if str(config.hydra.mode) != "RunMode.MULTIRUN":
            return
        results_file = Path(config.hydra.runtime.output_dir) / RESULTS_FILE
        status = (
            json.loads(results_file.read_text()).get("status", "?") if results_file.is_file() else "missing"
        )
        sweep_dir = Path(config.hydra.sweep.dir)
        done = sum(
            1
            for p in sweep_dir.glob(f"*/{RESULTS_FILE}")
            if json.loads(p.read_text()).get("status") in FINAL_STATUSES
        )
        print(
            f"[{done}/{os.environ.get(TOTAL_VARIABLE, '?')} done] {status:<6} "
            f"{','.join(config.hydra.overrides.task)}  (sweep time {self._elapsed()})",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = job_rows(sweep_dir)
        table = write_summary(sweep_dir, rows)
        failed = [r for r in rows if r["status"] not in ("ok", "skipped")]
        SweepCallback.failed_jobs = len(failed)
        print(
            f"\nSweep finished in {self._elapsed()}: {len(rows) - len(failed)} of {len(rows)} jobs ok.\n{table}"
        )
        print(f"Summary: {sweep_dir / SUMMARY_MD}")
        if list(sweep_dir.glob("*/wandb/offline-run-*")):
            print(
                f"Upload the offline W&B runs of this sweep with: wandb sync {sweep_dir}/*/wandb/offline-run-*"
            )
        if failed:
            print(
                f"{len(failed)} job(s) failed; re-run the same command with sweep.resume=true to retry them "
                "and skip the finished ones."
            )

    @staticmethod
    def _elapsed() -> str:
        start = os.environ.get(START_VARIABLE)
        return _clock(time.time() - float(start)) if start else "?"


def find_sweep_to_resume(root: Path, task_overrides: Sequence[str]) -> Path | None:
    """The newest sweep dir under ``root`` whose ``multirun.yaml`` has the same overrides."""
    wanted = sorted(o for o in task_overrides if not o.startswith("sweep.resume"))
    if not root.is_dir():
        return None
    candidates = sorted(root.glob("*/*/multirun.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for saved in candidates:
        task = OmegaConf.select(OmegaConf.load(saved), "hydra.overrides.task", default=[]) or []
        if sorted(str(o) for o in task if not str(o).startswith("sweep.resume")) == wanted:
            return saved.parent
    return None


class DeviceSlots:
    """Exclusive device slots for jobs that run side by side: one lock file per device, held while a job runs.

    Locks are ``flock`` locks, so a job that dies frees its devices at once.
    """

    def __init__(self, lock_dir: Path, devices: Sequence[int]) -> None:
        self.lock_dir = Path(lock_dir)
        self.devices = list(devices)
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self._held: list[Any] = []

    def acquire(self, count: int = 1, timeout: float | None = None, poll: float = 0.2) -> list[int]:
        if count > len(self.devices):
            raise ValueError(
                f"a job wants {count} devices but only {len(self.devices)} exist: {self.devices}"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            taken = self._try(count)
            if taken is not None:
                return taken
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no {count} free device(s) among {self.devices} after {timeout} s")
            time.sleep(poll)

    def _try(self, count: int) -> list[int] | None:
        handles, taken = [], []
        for device in self.devices:
            handle = open(self.lock_dir / f"device-{device}.lock", "w")  # noqa: SIM115 (held while the job runs)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handles.append(handle)
            taken.append(device)
            if len(taken) == count:
                self._held = handles
                return taken
        for handle in handles:
            handle.close()
        return None

    def release(self) -> None:
        for handle in self._held:
            handle.close()
        self._held = []


SIMULATED_GPUS_VARIABLE = "EXPERIMENTS_SIMULATED_GPUS"


def parallel_jobs() -> int:
    """How many jobs the launcher runs at once (``hydra.launcher.n_jobs``; 1 for the basic launcher)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    n_jobs = HydraConfig.get().launcher.get("n_jobs", 1) or 1
    return max(1, int(n_jobs) if int(n_jobs) > 0 else (os.cpu_count() or 1))


def visible_gpus(accelerator: str) -> tuple[list[int], bool]:
    """GPU indices jobs may take, and whether they are simulated (``EXPERIMENTS_SIMULATED_GPUS=0,1``)."""
    simulated = os.environ.get(SIMULATED_GPUS_VARIABLE)
    if simulated:
        return [int(i) for i in simulated.split(",") if i.strip()], True
    if accelerator not in ("auto", "gpu", "cuda"):
        return [], False
    import torch

    return list(range(torch.cuda.device_count())), False


class JobDevices:
    """The share of the machine one job of a parallel sweep gets: its own GPU(s), or a slice of the cores."""

    def __init__(self, sweep_dir: Path, accelerator: str, devices: Any, n_jobs: int) -> None:
        self.slots: DeviceSlots | None = None
        self.gpus: list[int] = []
        self.simulated = False
        self.threads: int | None = None
        if n_jobs <= 1:
            return
        gpus, self.simulated = visible_gpus(accelerator)
        if gpus:
            wanted = devices if isinstance(devices, int) and devices > 0 else 1
            self.slots = DeviceSlots(sweep_dir / ".device_slots", gpus)
            self.gpus = self.slots.acquire(wanted)
        else:
            self.threads = max(1, (os.cpu_count() or 1) // n_jobs)

    def trainer_overrides(self) -> dict[str, Any]:
        """Keyword arguments for the Trainer: the assigned GPU indices (real GPUs only)."""
        return {"accelerator": "gpu", "devices": self.gpus} if self.gpus and not self.simulated else {}

    def describe(self) -> dict[str, Any]:
        if self.gpus:
            return {"assigned": ",".join(f"gpu{i}" for i in self.gpus), "simulated": self.simulated}
        return {"assigned": f"cpu x{self.threads} threads"} if self.threads else {}

    def release(self) -> None:
        if self.slots is not None:
            self.slots.release()
