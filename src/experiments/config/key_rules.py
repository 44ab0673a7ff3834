"""The remaining keys of the shipped configs that a later library call reads: their types and values, so that
a word, a list or a number in the wrong place is refused up front (no torch), not after the run dir exists.
Paths under the run dir (``${paths.output_dir}``) are not checked here: they resolve only inside the job."""

from __future__ import annotations

from typing import Any

from experiments.config.limits import SEED_MAX, Rule, finite, whole

#: What the LightningModule logs during fit (training/module.py): what a checkpoint, early stopping or a
#: sweeper can watch; another name fails inside Lightning once the first validation ends.
FIT_METRICS = ("val/acc", "val/loss", "train/acc", "train/loss")


def _text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _numbers(value: Any) -> bool:
    return value is None or (isinstance(value, list) and bool(value) and all(finite(v) for v in value))


def _devices(value: Any) -> bool:  # Lightning's Trainer(devices=...): auto, a count, indices, or "0,1"
    if value == "auto" or whole(value, -1):
        return True
    if isinstance(value, list):
        return bool(value) and all(whole(v, 0) for v in value)
    return isinstance(value, str) and value.replace(",", "").replace(" ", "").isdigit()


KEY_RULES: tuple[Rule, ...] = (
    Rule("model.net.num_classes", lambda v: whole(v, 2), "must be an integer >= 2", optional=True),
    Rule("model.net.in_channels", lambda v: v in (1, 3) and whole(v, 1), "must be 1 or 3", optional=True),
    Rule("model.net.image_size", lambda v: whole(v, 1), "must be a positive integer", optional=True),
    Rule("data.image_size", lambda v: whole(v, 1), "must be a positive integer", optional=True),
    Rule("data.name", _text, "must be the data's name, e.g. mnist", optional=True),
    Rule(
        "data.seed", lambda v: whole(v, 0) and v <= SEED_MAX, f"must be an integer in [0, {SEED_MAX}]", True
    ),
    Rule("data.mean", _numbers, "must be null or a list of numbers, one per channel", optional=True),
    Rule("data.std", _numbers, "must be null or a list of numbers, one per channel", optional=True),
    Rule("data.cache_dir", lambda v: v is None or _text(v), "must be null or a directory", optional=True),
    Rule(
        "trainer.deterministic",
        lambda v: isinstance(v, bool) or v is None or v == "warn",
        "must be true, false, warn or null",
        optional=True,
    ),
    Rule("trainer.devices", _devices, "must be auto, a number of devices, or a list of device indices", True),
    Rule("callbacks.checkpoint.filename", lambda v: v is None or _text(v), "must be a file name", True),
    *(
        Rule(key, lambda v: v is None or v in FIT_METRICS, f"must be one of {', '.join(FIT_METRICS)}", True)
        for key in ("callbacks.checkpoint.monitor", "callbacks.early_stopping.monitor")
    ),
    Rule("optimized_metric", lambda v: v in FIT_METRICS, f"must be one of {', '.join(FIT_METRICS)}", True),
    Rule("callbacks.checkpoint.mode", lambda v: v in ("min", "max"), "must be min or max", optional=True),
    Rule(
        "callbacks.lr_monitor.logging_interval",
        lambda v: v in (None, "step", "epoch"),
        "must be step, epoch or null",
        optional=True,
    ),
    Rule(
        "callbacks.early_stopping",
        lambda v: v is None or isinstance(v, dict),
        "must be null or a callback's settings (callbacks=early_stopping)",
        optional=True,
    ),
    Rule(
        "scheduler.factory",
        lambda v: v is None or isinstance(v, dict),
        "must be null or a scheduler's settings (scheduler=cosine, ...)",
        optional=True,
    ),
    Rule(
        "model.loss.criterion",
        lambda v: v in ("cross_entropy", "map"),
        "must be cross_entropy or map",
        optional=True,
    ),
    Rule("model.loss.j", lambda v: finite(v) and v > 0, "must be a number > 0", optional=True),
    Rule("model.weights", lambda v: v is None or _text(v), "must be null, a file or IMAGENET1K_V1", True),
)
