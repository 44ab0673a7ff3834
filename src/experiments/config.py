"""Config location and validation: every check here runs before torch is imported."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.models.architectures import FEATURES
from experiments.models.geometry import PADDING_MODES, PADDING_SIZES, GeometryError, feature_sizes

POOLING_TYPES = ("max", "avg", "min", "lp")
ACTIVATION_NAMES = ("relu", "tanh", "scaled_tanh", "sigmoid", "leaky_relu", "elu", "gelu", "silu")
MISSING = object()
AUGMENT_KEYS = {"crop_padding", "padding_mode", "resized_crop_scale", "resized_crop_ratio", "hflip"}


def config_dir() -> Path:
    """``conf/`` shipped inside the package (wheel), else the source checkout's top-level ``conf/``."""
    packaged = Path(__file__).parent / "conf"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "conf"


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and what would fix it."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    key: str
    check: Callable[[Any], bool]
    requirement: str
    optional: bool = False


RULES: tuple[Rule, ...] = (
    Rule("seed", lambda v: _integer(v) and v >= 0, "must be a non-negative integer, e.g. seed=0"),
    Rule("deterministic", lambda v: isinstance(v, bool), "must be true or false"),
    Rule(
        "threads",
        lambda v: v is None or v == "auto" or (_integer(v) and v >= 1),
        "must be auto, null (torch's default) or an integer >= 1",
        optional=True,
    ),
    Rule("channels_last", lambda v: isinstance(v, bool), "must be true or false", optional=True),
    Rule(
        "compile",
        lambda v: isinstance(v, bool) or v in COMPILE_MODES,
        f"must be true, false or a torch.compile mode: {', '.join(COMPILE_MODES)}",
        optional=True,
    ),
    Rule("image_size", lambda v: _integer(v) and v >= 1, "must be a positive integer (pixels)"),
    Rule("model.name", lambda v: v in FEATURES, f"must be one of {sorted(FEATURES)}"),
    Rule(
        "model.net.dropout", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)", optional=True
    ),
    Rule("pooling.type", lambda v: v in POOLING_TYPES, f"must be one of {POOLING_TYPES}"),
    Rule("pooling.norm_type", lambda v: _number(v) and v > 0, "must be a positive number", optional=True),
    Rule(
        "padding.size",
        lambda v: v in PADDING_SIZES or (_integer(v) and v >= 0),
        f"must be one of {PADDING_SIZES} or a non-negative integer",
    ),
    Rule("padding.mode", lambda v: v in PADDING_MODES, f"must be one of {PADDING_MODES}"),
    Rule("padding.value", _number, "must be a number", optional=True),
    Rule("activation.name", lambda v: v in ACTIVATION_NAMES, f"must be one of {ACTIVATION_NAMES}"),
    Rule("data.batch_size", lambda v: _integer(v) and v >= 1, "must be an integer >= 1"),
    Rule("data.num_classes", lambda v: _integer(v) and v >= 2, "must be an integer >= 2"),
    Rule("data.channels", lambda v: v in (1, 3), "must be 1 (grey) or 3 (RGB)"),
    Rule("data.val_fraction", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)"),
    Rule("data.test_fraction", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)"),
    Rule("data.fit", lambda v: v in ("resize", "pad"), "must be 'resize' or 'pad'", optional=True),
    *(
        Rule(f"data.{k}", lambda v: isinstance(v, bool), "must be true or false", optional=True)
        for k in ("in_memory", "cache", "skip_corrupt", "verify", "download")
    ),
    Rule("data.num_workers", lambda v: _integer(v) and v >= 0, "must be an integer >= 0", optional=True),
    Rule(
        "data.split", lambda v: v in (1, 2, 3), "must be 1, 2 or 3 (a split of datasplits.mat)", optional=True
    ),
    Rule(
        "data.eval_batch_size",
        lambda v: v is None or (_integer(v) and v >= 1),
        "must be null or an integer >= 1",
        optional=True,
    ),
    Rule(
        "data.device",
        lambda v: isinstance(v, str) and (v in ("auto", "cpu") or v.startswith(("cuda", "mps"))),
        "must be auto, cpu or a device such as cuda:0",
        optional=True,
    ),
    Rule(
        "data.augment",
        lambda v: isinstance(v, dict) and set(v) <= AUGMENT_KEYS,
        f"must be a mapping with keys from {sorted(AUGMENT_KEYS)}",
        optional=True,
    ),
    Rule("optimizer.lr", lambda v: _number(v) and v > 0, "must be a number > 0, e.g. optimizer.lr=0.001"),
    Rule("optimizer.weight_decay", lambda v: _number(v) and v >= 0, "must be a number >= 0", optional=True),
    Rule(
        "optimizer.momentum", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)", optional=True
    ),
    Rule("scheduler.interval", lambda v: v in ("epoch", "step"), "must be 'epoch' or 'step'"),
    Rule("trainer.max_epochs", lambda v: _integer(v) and v >= 1, "must be an integer >= 1"),
    Rule(
        "trainer.devices",
        lambda v: v == "auto" or (_integer(v) and (v >= 1 or v == -1)) or isinstance(v, list | str),
        "must be 'auto', -1, a positive integer or a list of device indices",
    ),
    Rule(
        "logger.wandb.mode",
        lambda v: v in ("auto", "online", "offline", "disabled"),
        "must be auto, online, offline or disabled",
        optional=True,
    ),
)


def validate(cfg: DictConfig) -> None:
    """Check types, ranges and the model's geometry; raise :class:`ConfigError` naming the key."""
    for rule in RULES:
        try:
            value = OmegaConf.select(cfg, rule.key, default=MISSING, throw_on_missing=True)
        except Exception as error:  # an interpolation that cannot resolve
            raise ConfigError(rule.key, f"cannot be resolved ({error})") from None
        if isinstance(value, DictConfig):
            value = OmegaConf.to_container(value, resolve=True)
        if value is MISSING:
            if rule.optional:
                continue
            raise ConfigError(rule.key, f"is missing; it {rule.requirement}")
        if not rule.check(value):
            raise ConfigError(rule.key, f"{rule.requirement}; got {value!r} ({type(value).__name__})")
    held_out = cfg.data.val_fraction + cfg.data.test_fraction
    if held_out >= 1:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction + test_fraction = {held_out:g} leaves no training data; keep their sum below 1",
        )
    try:
        feature_sizes(FEATURES[cfg.model.name], cfg.image_size, cfg.padding.size)
    except GeometryError as error:
        raise ConfigError("image_size", f"model={cfg.model.name}: {error}") from None
