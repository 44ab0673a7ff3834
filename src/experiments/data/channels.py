"""Channel conversion (RGB to grey) and per-channel statistics of uint8 image tensors."""

from __future__ import annotations

import torch

GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as PIL's convert("L")


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """RGB -> grey where the model wants 1 channel; grey stays grey (repeated per batch, not stored 3x)."""
    if images.shape[1] == 3 and channels == 1:
        weights = torch.tensor(GREY_WEIGHTS).view(1, 3, 1, 1)
        grey = torch.empty(len(images), 1, *images.shape[2:], dtype=torch.uint8)
        for start in range(0, len(images), 4096):
            chunk = (images[start : start + 4096].float() * weights).sum(1, keepdim=True)
            grey[start : start + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
        return grey
    return images


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images in [0, 1] units, in float64 chunks."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), 1024):
        chunk = images[start : start + 1024].to(torch.float64).div_(255)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(images.numel() // images.shape[1], 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-3)
    return mean.float(), std.float()
