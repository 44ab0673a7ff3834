"""What a job reports about itself besides metrics: parameters, the layer table, the device, the last lines."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

if TYPE_CHECKING:
    from experiments.records.run_record import RunRecord
    from experiments.training.context import JobContext

log = logging.getLogger("experiments")


def parameter_counts(net: Any) -> dict[str, int]:
    return {
        "total": sum(p.numel() for p in net.parameters()),
        "trainable": sum(p.numel() for p in net.parameters() if p.requires_grad),
    }


def layer_table_or_none(net: Any, cfg: DictConfig) -> dict[str, Any] | None:
    """The layer table of ``experiments layers`` (shapes, parameters, FLOPs, receptive fields)."""
    from experiments.models.layer_table import summarize

    try:
        return summarize(net, cfg.data.channels, cfg.image_size)
    except Exception as error:  # the table is informative only
        log.warning("could not tabulate the model's layers: %s", error)
        return None


def describe_device(trainer: Any) -> dict[str, Any]:
    import torch

    strategy = trainer.strategy
    return {
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "root_device": str(strategy.root_device),
        "world_size": trainer.world_size,
        "strategy": type(strategy).__name__,
        "precision": str(trainer.precision),
        "cpu_threads": torch.get_num_threads(),
    }


def device_line(device: dict[str, Any]) -> str:
    """``cpu, 1 thread, 32-true`` or ``cuda:0, bf16-mixed, DDP x2`` for the console."""
    parts = [device.get("root_device", "?")]
    if device.get("root_device") == "cpu":
        threads = device.get("cpu_threads")
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    parts.append(str(device.get("precision")))
    if (device.get("world_size") or 1) > 1:
        parts.append(f"{device['strategy']} x{device['world_size']}")
    if device.get("assigned"):
        parts.append(f"sweep share: {device['assigned']}")
    return ", ".join(parts)


def shown_path(path: Path | str) -> str:
    """``path`` relative to the working dir where it lies below it (shorter to read and to paste)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def next_steps(job: JobContext, wandb_sync: str | None) -> list[str]:
    """The commands that go on from a finished run: compare it, open TensorBoard, upload W&B, see the plots."""
    from pytorch_lightning.loggers import TensorBoardLogger

    run_dir = shown_path(job.run_dir)
    steps = [f"experiments compare {run_dir}"]
    if any(isinstance(logger, TensorBoardLogger) for logger in job.loggers):
        steps.append(f"tensorboard --logdir {run_dir}")
    if wandb_sync:
        steps.append(f"wandb sync {shown_path(wandb_sync.removeprefix('wandb sync '))}")
    return steps


def print_final(run_dir: Path, record: RunRecord, steps: list[str]) -> None:
    """The last lines of a run: its dir, final metrics (fractions and %), plots, and what to run next."""
    metrics = record.metrics
    shown = ["test/acc", "test/f1_macro", "test/acc_top5", "test/loss", "val/acc_best"]
    lines = [f"Run dir: {run_dir}", f"Finished in {record.wall_time_s or 0:.1f} s. Final metrics:"]
    for key in (k for k in shown if k in metrics):
        percent = (
            f"  ({100 * metrics[key]:.2f} %)" if key.endswith(("acc", "acc_best", "top5", "macro")) else ""
        )
        lines.append(f"  {key:<14} {metrics[key]:.4f}{percent}")
    plots = record.plots
    if plots:
        lines.append("Plots: " + ", ".join(shown_path(run_dir / p) for p in plots))
    lines += ["Next:", *(f"  {step}" for step in steps)]
    print("\n".join(lines), flush=True)
