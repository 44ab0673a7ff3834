"""The probes after the test: the tested images and weights, the selected probes, their record and logs.

They run in the process that tested (the config refuses probes under multi-process DDP), on the device
the test ran on, in eval mode under ``torch.no_grad`` and the test's precision, on the images the test
read (``trainer.limit_test_batches`` included: the report says ``limited``). Their metrics
(``probe/...``) join the run's metrics in ``results.json`` and go to every logger; their curves go to
``probes.json`` in the run dir.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from experiments.config.probe_rules import probe_settings
from experiments.probes.runner import ProbeReport

log = logging.getLogger("experiments")
PROBES_FILE = "probes.json"
#: The smallest batch the probes forward (the data's eval batch where larger): fewer, fuller passes.
PROBE_BATCH = 256


def probe_after_test(
    cfg: DictConfig, module: Any, datamodule: Any, trainer: Any, *, limited: bool
) -> ProbeReport | None:
    """The probes ``cfg`` selects on ``module``'s tested weights and ``datamodule``'s tested images (None: none)."""
    from experiments.probes.edits import background
    from experiments.probes.inputs import ProbeInputs
    from experiments.probes.runner import run_probes

    settings = probe_settings(cfg)
    if not settings:
        return None
    if trainer.world_size > 1:
        log.warning("probes skipped: they run in one process (the run used %d)", trainer.world_size)
        return None
    device = trainer.strategy.root_device
    net = module.net.to(device)
    batches = next(iter(trainer.num_test_batches or [0]))
    images, labels = tested_images(datamodule, device, batches)
    train = None
    if "overfitting" in settings:
        cap = (settings["overfitting"] or {}).get("train_images") or len(labels)
        train = training_images(datamodule, device, cap)
    inputs = ProbeInputs(
        net=net,
        images=images,
        labels=labels,
        background=background(images),
        batch_size=max(datamodule.eval_batch_size, PROBE_BATCH),
        loss=module.loss,
        train_images=train[0] if train else None,
        train_labels=train[1] if train else None,
        context=trainer.precision_plugin.forward_context,
        limited=limited,
    )
    return run_probes(inputs, settings)


def tested_images(datamodule: Any, device: Any, batches: int) -> tuple[Any, Any]:
    """The first ``batches`` test batches as the test read them, normalised, on ``device``."""
    import torch

    images, labels = [], []
    for index, (batch, truth) in enumerate(datamodule.test_dataloader()):
        if index >= batches:
            break
        images.append(datamodule.transform(batch.to(device), train=False))
        labels.append(truth.to(device))
    if not images:
        raise ValueError("the test read no image: nothing to probe")
    return torch.cat(images), torch.cat(labels)


def training_images(datamodule: Any, device: Any, count: int) -> tuple[Any, Any]:
    """The training split's first ``count`` images (its own order, no augmentation), normalised, on ``device``."""
    import torch

    if datamodule.splits:
        images, labels = datamodule.splits["train"]
        images, labels = images[:count], labels[:count]
    else:
        dataset = datamodule.datasets["train"]
        pairs = [dataset[i] for i in range(min(count, len(dataset)))]
        images = torch.stack([p[0] for p in pairs])
        labels = torch.as_tensor([int(p[1]) for p in pairs])
    return datamodule.transform(images.to(device), train=False), labels.to(device)


def write_probes(run_dir: Path, report: ProbeReport) -> dict[str, Any]:
    """``probes.json`` in the run dir; what the record says of the probes (file, images, limited, seconds)."""
    from experiments.records.atomic import write_atomic

    path = write_atomic(Path(run_dir) / PROBES_FILE, json.dumps(report.to_json(), indent=2))
    return {
        "file": str(path),
        "ran": list(report.seconds),
        "images": report.images,
        "train_images": report.train_images,
        "limited": report.limited,
        "seconds": round(sum(report.seconds.values()), 3),
    }


def log_probes(loggers: list[Any], metrics: dict[str, float], step: int) -> None:
    """The probe metrics to every logger (metrics.csv, TensorBoard, W&B), written out at once."""
    for logger in loggers or []:
        try:
            logger.log_metrics(metrics, step=step)
            logger.save()
            writer = getattr(logger, "experiment", None) if "TensorBoard" in type(logger).__name__ else None
            if writer is not None:
                writer.flush()
        except Exception as error:  # the record holds them; a logger that cannot take them is a warning
            log.warning("could not log the probes to %s: %s", type(logger).__name__, error)
