"""The literature's replacements for a pooling window, on the model's own window (kernel, stride).

``BlurMaxPool2d``: Zhang (ICML 2019), "Making convolutional networks shift-invariant again" (MaxBlurPool):
max pooling at stride 1, then a binomial low-pass filter that subsamples with the window's stride.
``StridedConv2d``: Springenberg et al. (2014), "Striving for simplicity: the all convolutional net": a
learned convolution (channels in = out) in place of the pool. Both output the size the plain pool would
(:func:`experiments.models.geometry.pool_output_size`), so the network's later layers are unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.geometry import pool_output_size


def binomial_filter(size: int) -> torch.Tensor:
    """The ``size x size`` binomial low-pass filter, summing to 1: rows ``C(size-1, i)`` (1 2 1, 1 3 3 1, ...)."""
    if size < 1:
        raise ValueError(f"pooling.filter_size must be an integer >= 1, got {size}")
    row = torch.tensor([float(math.comb(size - 1, i)) for i in range(size)])
    kernel = row[:, None] * row[None, :]
    return kernel / kernel.sum()


def _ceil_extra(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Extra bottom/right input pixels for the last window of a ``ceil_mode`` pool: its size with them, at
    ``floor``, is the plain pool's with ``ceil_mode``."""
    if not ceil_mode:
        return 0
    target = pool_output_size(size, kernel, stride, padding, ceil_mode=True)
    return max(0, (target - 1) * stride + kernel - (size + 2 * padding))


class BlurMaxPool2d(nn.Module):
    """Zhang's MaxBlurPool: ``MaxPool2d(kernel, stride=1, padding)``, then a depthwise binomial blur at ``stride``.

    The blur pads ``(filter_size - 1)`` in all, ``floor`` of half before and ``ceil`` after, by reflection
    (Zhang's default; replication where the map is too small to reflect), so the output size equals
    ``MaxPool2d(kernel, stride, padding, ceil_mode)``'s (with ``ceil_mode`` the input's bottom/right edge is
    first padded with -inf, as far as that pool's last windows reach past it). The filter is a non-persistent buffer: the
    state_dict is a max pool's (empty). ``filter_size=4`` is antialiased-cnns' default.
    """

    def __init__(
        self,
        filter_size: int = 4,
        *,
        kernel_size: int,
        stride: int | None = None,
        ceil_mode: bool = False,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.filter_size = int(filter_size)
        self.max = nn.MaxPool2d(kernel_size, stride=1, padding=padding)
        self.register_buffer("filter", binomial_filter(self.filter_size)[None, None], persistent=False)

    @property
    def reach(self) -> int:
        """The input pixels one output sees along an axis, in units of the input: max window plus blur."""
        return self.kernel_size + self.filter_size - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        extra = _ceil_extra(x.shape[-1], self.kernel_size, self.stride, self.padding, self.ceil_mode)
        extra_h = _ceil_extra(x.shape[-2], self.kernel_size, self.stride, self.padding, self.ceil_mode)
        if extra or extra_h:  # ceil_mode's last windows reach past the edge: they see what is inside
            x = F.pad(x, (0, extra, 0, extra_h), value=float("-inf"))
        peaks = self.max(x)
        before = (self.filter_size - 1) // 2
        pads = (before, self.filter_size - 1 - before) * 2
        small = pads[1] >= min(peaks.shape[-2:])  # reflection needs a pad narrower than the map
        peaks = F.pad(peaks, pads, mode="replicate" if small else "reflect")
        channels = peaks.shape[1]
        weight = self.filter.to(peaks.dtype).expand(channels, 1, self.filter_size, self.filter_size)
        return F.conv2d(peaks, weight, stride=self.stride, groups=channels)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"ceil_mode={self.ceil_mode}, filter_size={self.filter_size}"
        )


class StridedConv2d(nn.Conv2d):
    """Springenberg et al.'s learned pooling: a ``channels -> channels`` convolution with the window's kernel,
    stride and padding (zeros), followed by the model's activation where ``activation`` is given and
    ``activate`` (as each conv of the all-convolutional net is followed by ReLU).

    With ``ceil_mode`` the bottom/right edge is zero-padded so the size is the plain pool's. The row of the
    layer table is this module (conv and activation together); its weights count as a conv layer's.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int,
        stride: int | None = None,
        ceil_mode: bool = False,
        padding: int = 0,
        activation: nn.Module | None = None,
        activate: bool = True,
    ) -> None:
        super().__init__(channels, channels, kernel_size, stride=stride or kernel_size, padding=padding)
        self.ceil_mode = ceil_mode
        self.act = activation if activate and activation is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride, pad = self.kernel_size[0], self.stride[0], self.padding[0]
        extra = _ceil_extra(x.shape[-1], kernel, stride, pad, self.ceil_mode)
        extra_h = _ceil_extra(x.shape[-2], kernel, stride, pad, self.ceil_mode)
        if extra or extra_h:
            x = F.pad(x, (0, extra, 0, extra_h))
        return self.act(super().forward(x))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, ceil_mode={self.ceil_mode}"
