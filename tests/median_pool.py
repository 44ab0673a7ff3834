"""Throwaway options for ``test_new_option``: a pooling and an activation the package does not ship.

A config option names them by ``_target_`` (``tests.median_pool.MedianPool2d``); nothing in the
package lists them, which is what the test shows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MedianPool2d(nn.Module):
    """The median of each window; the window (kernel, stride, padding) is the model's, as for any pooling."""

    def __init__(
        self, kernel_size: int, stride: int | None = None, ceil_mode: bool = False, padding: int = 0
    ):
        super().__init__()
        if ceil_mode:
            raise ValueError("MedianPool2d has no ceil_mode")
        self.kernel_size = kernel_size
        self.stride = stride or kernel_size
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding:
            x = F.pad(x, (self.padding,) * 4, mode="replicate")
        windows = x.unfold(2, self.kernel_size, self.stride).unfold(3, self.kernel_size, self.stride)
        return windows.flatten(-2).median(dim=-1).values

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Squareplus(nn.Module):
    """``(x + sqrt(x^2 + b)) / 2``: a smooth ReLU (Barron, 2021)."""

    def __init__(self, b: float = 4.0) -> None:
        super().__init__()
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + torch.sqrt(x * x + self.b)) / 2

    def extra_repr(self) -> str:
        return f"b={self.b}"
