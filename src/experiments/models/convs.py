"""The convolutions the padding group builds: an amount (``size``) and a fill (``mode``, ``value``).

``zeros``, ``reflect``, ``replicate`` and ``circular`` are ``torch.nn.Conv2d(padding_mode=...)``;
``constant`` pads with a value; ``partial`` is Liu et al. (2018), "Partial convolution based padding":
zero padding, each output re-weighted by (window area / in-image pixels under the window), the bias
added after. Each keeps a plain ``Conv2d``'s state_dict (``weight``, ``bias``), so weights load across
padding modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.geometry import PADDING_MODES, Conv, conv_output_size, conv_padding


def _taps(size: int, kernel: int, stride: int, padding: int, dilation: int) -> list[int]:
    """For each output position along one axis: how many of the window's taps fall inside the input."""
    starts = range(0, conv_output_size(size, kernel, stride, padding, dilation) * stride, stride)
    return [sum(0 <= start - padding + j * dilation < size for j in range(kernel)) for start in starts]


def border_ratio(
    height: int, width: int, kernel: int, stride: int, padding: int, dilation: int, like: torch.Tensor
) -> torch.Tensor:
    """``area / in-image taps`` per output position (``out_h x out_w``): 1 in the interior, > 1 at the border,
    0 where a window holds no input pixel (Liu et al.'s mask update). The count is the same for every
    channel, so the ratio over ``C x k x k`` equals the spatial one."""
    rows = like.new_tensor(_taps(height, kernel, stride, padding, dilation), dtype=torch.float32)
    cols = like.new_tensor(_taps(width, kernel, stride, padding, dilation), dtype=torch.float32)
    inside = rows[:, None] * cols[None, :]
    return torch.where(inside > 0, kernel * kernel / inside.clamp_min(1.0), torch.zeros_like(inside))


def cached_ratio(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module.ratio`` (a non-persistent buffer: never in the state_dict) for ``x``'s size, made when the size
    changes. A ratio made on fake tensors (the layer table's FLOP count, tracing) is used, not kept."""
    height, width = x.shape[-2:]
    key = (height, width, x.device)
    if getattr(module, "_ratio_key", None) != key:
        ratio = border_ratio(
            height,
            width,
            module.kernel_size[0],
            module.stride[0],
            module.padding[0],
            module.dilation[0],
            x,
        )
        if type(ratio) is not torch.Tensor:  # a fake or traced tensor: do not keep it
            return ratio
        module.ratio = ratio
        module._ratio_key = key
    return module.ratio


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


class PartialPaddingConv2d(nn.Conv2d):
    """Partial-convolution padding (Liu et al., 2018): ``conv_zero_pad(x) * area / in-image taps + bias``.

    The ratio is computed from the input's shape (``ratio``, a non-persistent buffer, remade when the size
    changes); the state_dict is a plain ``Conv2d``'s.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("ratio", torch.ones(0, 0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._conv_forward(x, self.weight, None)
        out = out * cached_ratio(self, x).to(out.dtype)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1).to(out.dtype)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, partial padding"


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
    if mode == "partial":
        return PartialPaddingConv2d(**shape, padding=amount)
    return nn.Conv2d(**shape, padding=amount, padding_mode=mode)
