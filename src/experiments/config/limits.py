"""Limits beyond a key's own type: ``data.augment``'s options, the memory a batch needs, the job's name.

Each refusal names the key and what fits, before a run dir exists (no torch).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from experiments.config.errors import ConfigError
from experiments.models.choices import NET_CHOICES
from experiments.models.geometry import Conv, Layer

FLOAT_BYTES = 4
SEED_MAX = 2**32 - 1
ACCELERATORS = (
    "auto",
    "cpu",
    "gpu",
    "cuda",
    "mps",
    "tpu",
    "hpu",
)  # Lightning 2.x's Trainer(accelerator=...)  # numpy.random.seed and torch's generators take seeds in [0, 2**32 - 1]


@dataclass(frozen=True)
class Rule:
    """``key``'s value must pass ``check``; ``requirement`` says what it takes (``optional``: may be absent)."""

    key: str
    check: Callable[[Any], bool]
    requirement: str
    optional: bool = False


def whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _batches(value: Any) -> bool:  # Lightning's limit_*_batches: a count, or a fraction of the batches
    return (
        value is None or whole(value, 0) or (finite(value) and isinstance(value, float) and 0 <= value <= 1)
    )


def finite(value: Any) -> bool:
    """An int or float (not a bool) that is neither infinite nor NaN."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pair(check: Callable[[float, float], bool]) -> Callable[[Any], bool]:
    return lambda v: (
        isinstance(v, list | tuple) and len(v) == 2 and all(finite(x) for x in v) and check(v[0], v[1])
    )


#: ``data.augment``'s options (experiments.data.augment.Augment's fields) and what each takes.
AUGMENT: dict[str, tuple[Callable[[Any], bool], str]] = {
    "crop_padding": (lambda v: finite(v) and isinstance(v, int) and v >= 0, "an integer >= 0"),
    "padding_mode": (lambda v: v in ("constant", "reflect", "replicate"), "constant, reflect or replicate"),
    "resized_crop_scale": (
        lambda v: v is None or _pair(lambda lo, hi: 0 < lo <= hi <= 1)(v),
        "null or [low, high] with 0 < low <= high <= 1",
    ),
    "resized_crop_ratio": (_pair(lambda lo, hi: 0 < lo <= hi), "[low, high] with 0 < low <= high"),
    "hflip": (lambda v: isinstance(v, bool), "true or false"),
    "translate": (lambda v: finite(v) and v >= 0, "a number >= 0 (pixels)"),
    "scale": (
        lambda v: v is None or _pair(lambda lo, hi: 0 < lo <= hi)(v),
        "null or [low, high] with 0 < low <= high",
    ),
    "squeeze": (lambda v: finite(v) and 0 <= v < 1, "a number in [0, 1)"),
    "shear": (lambda v: finite(v) and 0 <= v < 1, "a number in [0, 1)"),
}


def _one_of(choices: tuple[str | int, ...]) -> Callable[[Any], bool]:
    """The value is one of ``choices``, of their type (``true`` is not the tower count 1)."""
    return lambda v: type(v) is type(choices[0]) and v in choices


#: The builders' word-valued options (``models/choices.py``), for the models that have them.
NET_RULES = tuple(
    Rule(f"model.net.{key}", _one_of(values), f"must be one of {', '.join(map(str, values))}", optional=True)
    for key, values in NET_CHOICES.items()
)

#: The Trainer's and callbacks' numbers that the shipped configs set: a list, a word or a non-finite
#: number there fails inside Lightning after the run dir exists.
RUN_RULES = (
    Rule("trainer.log_every_n_steps", lambda v: whole(v, 1), "must be an integer >= 1", optional=True),
    Rule(
        "trainer.check_val_every_n_epoch",
        lambda v: v is None or whole(v, 1),
        "must be null or an integer >= 1",
        optional=True,
    ),
    Rule("trainer.num_nodes", lambda v: whole(v, 1), "must be an integer >= 1", optional=True),
    Rule("trainer.num_sanity_val_steps", lambda v: whole(v, -1), "must be an integer >= -1", optional=True),
    Rule(
        "trainer.gradient_clip_val",
        lambda v: v is None or (finite(v) and v >= 0),
        "must be null or a number >= 0",
        optional=True,
    ),
    *(
        Rule(
            f"trainer.limit_{part}_batches",
            _batches,
            "must be null, an integer >= 0 or a fraction in [0, 1]",
            True,
        )
        for part in ("train", "val", "test")
    ),
    Rule(
        "trainer.accelerator",
        lambda v: v in ACCELERATORS,
        f"must be one of Lightning's accelerators: {', '.join(ACCELERATORS)}",
        True,
    ),
    Rule(
        "trainer.strategy",
        lambda v: isinstance(v, str) and v != "",
        "must be a name such as auto or ddp",
        True,
    ),
    Rule(
        "trainer.benchmark", lambda v: v is None or isinstance(v, bool), "must be null, true or false", True
    ),
    Rule(
        "callbacks.checkpoint.save_top_k", lambda v: whole(v, -1), "must be an integer >= -1", optional=True
    ),
    Rule(
        "callbacks.progress_bar.refresh_rate",
        lambda v: whole(v, 0),
        "must be an integer >= 0",
        optional=True,
    ),
    Rule("scheduler.factory.gamma", lambda v: finite(v) and v > 0, "must be a number > 0", optional=True),
    Rule("scheduler.factory.step_size", lambda v: whole(v, 1), "must be an integer >= 1", optional=True),
)


def check_augment(augment: Any) -> None:
    """Each ``data.augment.<option>``: a known option with a value of its type and range."""
    if not isinstance(augment, dict):
        raise ConfigError("data.augment", f"must be a mapping such as {{hflip: true}}; got {augment!r}")
    for name, value in augment.items():
        if name not in AUGMENT:
            raise ConfigError(
                "data.augment", f"must be a mapping with keys from {sorted(AUGMENT)}; got {name!r}"
            )
        check, requirement = AUGMENT[name]
        if not check(value):
            raise ConfigError(
                f"data.augment.{name}", f"must be {requirement}; got {value!r} ({type(value).__name__})"
            )


def memory_bytes() -> int | None:
    """The machine's physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    layers: Sequence[Layer],
    sizes: Sequence[int],
    image_size: int,
    channels: int,
    batch_size: int,
    padding: object = "model",
) -> None:
    """Refuse an image size whose batch of activations (input and every feature map, float32) cannot fit
    in this machine's memory, with the numbers."""
    total = memory_bytes()
    if total is None:
        return
    maps, width = channels * image_size**2, channels
    for layer, size in zip(layers, sizes, strict=False):
        width = layer.out_channels if isinstance(layer, Conv) else width
        maps += width * size**2
    needed = maps * batch_size * FLOAT_BYTES
    padded, lower = (f", padding.size={padding}", ", padding.size") if isinstance(padding, int) else ("", "")
    if needed > total:
        raise ConfigError(
            "image_size",
            f"image_size={image_size}{padded} with data.batch_size={batch_size} needs about {_gib(needed)} for "
            f"one batch's feature maps, more than this machine's {_gib(total)}; lower image_size{lower} or "
            "data.batch_size",
        )


def _gib(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB"


def check_job_name(name: Any) -> None:
    """``hydra.job.name`` names the job's log file inside its run dir: a plain file name, never a path."""
    text = str(name)
    if not text or "/" in text or "\\" in text or text in (".", "..") or "\0" in text:
        raise ConfigError(
            "hydra.job.name",
            f"must be a plain name (no '/', '\\\\' or '..'), e.g. hydra.job.name=experiments; got {text!r}",
        )
