"""Building blocks chosen by the config groups: activation, pooling operator and padded convolution."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.geometry import PADDING_MODES, Conv, Pool, conv_padding

Spec = Mapping[str, Any] | str


def _split(spec: Spec, key: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    options = dict(spec)
    return options.pop(key), options


class ScaledTanh(nn.Module):
    """LeCun's squashing function ``A * tanh(S * x)`` with A = 1.7159, S = 2/3."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "scaled_tanh": ScaledTanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def make_activation(spec: Spec) -> nn.Module:
    """``{"name": "leaky_relu", "negative_slope": 0.1}`` or ``"relu"`` -> module."""
    name, options = _split(spec, "name")
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    if name in ("relu", "leaky_relu", "elu") and "inplace" not in options:
        options["inplace"] = True
    return ACTIVATIONS[name](**options)


class MinPool2d(nn.MaxPool2d):
    """Min pooling, ``-maxpool(-x)``: the same window geometry as max pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -super().forward(-x)


POOLINGS = ("max", "avg", "min", "lp")


def make_pool(spec: Spec, layer: Pool) -> nn.Module:
    """The pooling operator from the group, the window (kernel, stride) from the architecture."""
    kind, options = _split(spec, "type")
    geometry = dict(kernel_size=layer.kernel, stride=layer.stride, ceil_mode=layer.ceil_mode)
    if kind == "max":
        return nn.MaxPool2d(padding=layer.padding, **geometry)
    if kind == "min":
        return MinPool2d(padding=layer.padding, **geometry)
    if kind == "avg":
        return nn.AvgPool2d(padding=layer.padding, **geometry)
    if kind == "lp":
        if layer.padding:
            raise ValueError(f"LP pooling has no padding, but layer '{layer.name}' pads by {layer.padding}")
        return nn.LPPool2d(norm_type=float(options.get("norm_type", 2.0)), **geometry)
    raise ValueError(f"unknown pooling type {kind!r}; choose one of {POOLINGS}")


class ConstantPadConv2d(nn.Conv2d):
    """A ``Conv2d`` that pads with a constant value; its state_dict equals a plain ``Conv2d``'s."""

    def __init__(self, *args: Any, pad: int, value: float, **kwargs: Any) -> None:
        super().__init__(*args, padding=0, **kwargs)
        self.pad = pad
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.pad,) * 4, value=self.value))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pad={self.pad}, value={self.value}"


def make_conv(in_channels: int, layer: Conv, padding: Mapping[str, Any] | None = None) -> nn.Conv2d:
    """A convolution with the padding group's amount (``size``) and fill (``mode``, ``value``)."""
    padding = dict(padding or {})
    amount = conv_padding(layer, padding.get("size", "model"))
    mode = padding.get("mode", "zeros")
    shape = dict(
        in_channels=in_channels,
        out_channels=layer.out_channels,
        kernel_size=layer.kernel,
        stride=layer.stride,
        dilation=layer.dilation,
        groups=layer.groups,
    )
    if mode not in PADDING_MODES:
        raise ValueError(f"unknown padding mode {mode!r}; choose one of {PADDING_MODES}")
    if mode == "constant":
        return ConstantPadConv2d(**shape, pad=amount, value=float(padding.get("value", 0.0)))
    return nn.Conv2d(**shape, padding=amount, padding_mode=mode)


def build_features(
    layers: tuple[Conv | Pool, ...],
    in_channels: int,
    *,
    pooling: Spec,
    padding: Mapping[str, Any] | None,
    activation: Spec,
    block_order: str = "conv-act-pool",
) -> tuple[nn.Sequential, int]:
    """Turn a layer list into ``conv, act, [pool]`` blocks; returns the module and its output channels.

    ``block_order="conv-pool-act"`` moves each pool before its block's activation (the ablation that
    lets min pooling see negative values); module indices stay torchvision's either way.
    """
    if block_order not in ("conv-act-pool", "conv-pool-act"):
        raise ValueError(f"block_order must be 'conv-act-pool' or 'conv-pool-act', got {block_order!r}")
    modules: list[nn.Module] = []
    channels = in_channels
    for layer in layers:
        if isinstance(layer, Conv):
            modules += [make_conv(channels, layer, padding), make_activation(activation)]
            channels = layer.out_channels
        else:
            pool = make_pool(pooling, layer)
            if block_order == "conv-pool-act":
                modules.insert(len(modules) - 1, pool)
            else:
                modules.append(pool)
    return nn.Sequential(*modules), channels
