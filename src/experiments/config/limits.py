"""Limits beyond a key's own type: ``data.augment``'s options, the memory a batch needs, the job's name.

Each refusal names the key and what fits, before a run dir exists (no torch).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

from experiments.config.errors import ConfigError
from experiments.models.geometry import Conv, Layer

FLOAT_BYTES = 4
SEED_MAX = 2**32 - 1  # numpy.random.seed and torch's generators take seeds in [0, 2**32 - 1]


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
    layers: Sequence[Layer], sizes: Sequence[int], image_size: int, channels: int, batch_size: int
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
    if needed > total:
        raise ConfigError(
            "image_size",
            f"image_size={image_size} with data.batch_size={batch_size} needs about {_gib(needed)} for one "
            f"batch's feature maps, more than this machine's {_gib(total)}; lower image_size or data.batch_size",
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
