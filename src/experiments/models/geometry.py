"""Layer geometry in plain Python: output sizes, padding amounts, and the input-size check.

The model builders and the config validation both read these specs, so the check that runs
before torch is imported describes exactly the network that is later built.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

PADDING_SIZES = ("model", "valid", "same", "full")
# ``partial``: zero padding re-weighted by window area / in-image taps (Liu et al. 2018, models/convs.py).
PADDING_MODES = ("zeros", "constant", "reflect", "replicate", "circular", "partial")


@dataclass(frozen=True)
class Conv:
    """A convolution; ``padding`` is the architecture's own (used when ``padding.size=model``)."""

    name: str
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1


@dataclass(frozen=True)
class Pool:
    """A pooling window: its geometry belongs to the architecture, its operator to the pooling group."""

    name: str
    kernel: int
    stride: int
    padding: int = 0
    ceil_mode: bool = False


Layer = Conv | Pool


def as_built(layers: Sequence[Layer], keeps_size: bool = False) -> tuple[Layer, ...]:
    """The layer list as the network is built: with a pooling that keeps the size (``pooling=none``, the
    option's ``keeps_size: true``) each pool's window is 1x1 at stride 1, so every later size is the true one."""
    if not keeps_size:
        return tuple(layers)
    return tuple(
        replace(layer, kernel=1, stride=1, padding=0, ceil_mode=False) if isinstance(layer, Pool) else layer
        for layer in layers
    )


class GeometryError(ValueError):
    """The input is too small for the network: some layer's output would be empty."""


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """``floor((n + 2p - d(k-1) - 1) / s) + 1``, as ``torch.nn.Conv2d`` computes it."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output size of ``MaxPool2d``/``AvgPool2d``; with ``ceil_mode`` the last window must start inside the input."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = math.ceil(span / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_padding(layer: Conv, size: str | int) -> int:
    """Padding amount of ``layer`` for a ``padding.size`` setting (model, valid, same, full, or an int)."""
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    reach = layer.dilation * (layer.kernel - 1)
    if size == "model":
        return layer.padding
    if size == "valid":
        return 0
    if size == "same":
        return reach // 2
    if size == "full":
        return reach
    raise ValueError(f"padding.size must be one of {PADDING_SIZES} or an integer, got {size!r}")


def layer_output_size(layer: Layer, size: int, padding_size: str | int = "model") -> int:
    if isinstance(layer, Conv):
        return conv_output_size(
            size, layer.kernel, layer.stride, conv_padding(layer, padding_size), layer.dilation
        )
    return pool_output_size(size, layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)


def feature_sizes(layers: Sequence[Layer], image_size: int, padding_size: str | int = "model") -> list[int]:
    """Spatial size after each layer; raises :class:`GeometryError` naming the layer that empties the map."""
    sizes = []
    size = image_size
    for layer in layers:
        size = layer_output_size(layer, size, padding_size)
        if size < 1:
            smallest = smallest_input(layers, padding_size)
            raise GeometryError(
                f"input size {image_size} is too small: layer '{layer.name}' "
                f"({_describe(layer, padding_size)}) would output size {size}. "
                f"The smallest input this network accepts is {smallest}x{smallest}; "
                f"set image_size={smallest} or larger."
            )
        sizes.append(size)
    return sizes


def smallest_input(layers: Sequence[Layer], padding_size: str | int = "model", limit: int = 4096) -> int:
    for n in range(1, limit + 1):
        size = n
        for layer in layers:
            size = layer_output_size(layer, size, padding_size)
            if size < 1:
                break
        else:
            return n
    raise GeometryError(f"no input size up to {limit} fits this network")


def _describe(layer: Layer, padding_size: str | int) -> str:
    if isinstance(layer, Conv):
        pad = conv_padding(layer, padding_size)
        return f"conv {layer.kernel}x{layer.kernel}, stride {layer.stride}, padding {pad}"
    return f"pool {layer.kernel}x{layer.kernel}, stride {layer.stride}"
