"""The image edits the probes apply to batches of normalised images (N, C, H, W), on their device.

Every edit fills what it uncovers with the background, one value per channel, estimated from the test
images' outermost pixels (:func:`background`), or rolls the image round (``fill=None``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EDGES = ("left", "right", "top", "bottom")


def background(images: torch.Tensor) -> torch.Tensor:
    """Per channel, the median of the images' outermost ring of pixels (C,): the value that fills."""
    ring = torch.cat(
        (images[:, :, 0, :], images[:, :, -1, :], images[:, :, 1:-1, 0], images[:, :, 1:-1, -1]), dim=2
    )
    return ring.transpose(0, 1).reshape(images.shape[1], -1).median(dim=1).values


def shift_each(
    images: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, fill: torch.Tensor | None
) -> torch.Tensor:
    """Image i moved ``dx[i]`` px right and ``dy[i]`` px down (negative: left, up); what comes in is ``fill``
    (C,), or the image rolled round where ``fill`` is None."""
    n, c, h, w = images.shape
    rows = torch.arange(h, device=images.device).view(1, h) - dy.view(n, 1).to(images.device)
    cols = torch.arange(w, device=images.device).view(1, w) - dx.view(n, 1).to(images.device)
    if fill is None:
        rows, cols = rows % h, cols % w
        source = images
    else:
        pad = int(max(dx.abs().max().item(), dy.abs().max().item(), 0))
        pad = min(pad, max(h, w))
        rows, cols = (rows + pad).clamp(0, h + 2 * pad - 1), (cols + pad).clamp(0, w + 2 * pad - 1)
        source = fill.view(1, c, 1, 1).to(images).expand(n, c, h + 2 * pad, w + 2 * pad).clone()
        source[:, :, pad : pad + h, pad : pad + w] = images
    picked = source[
        torch.arange(n, device=images.device).view(n, 1, 1), :, rows.view(n, h, 1), cols.view(n, 1, w)
    ]
    return picked.permute(0, 3, 1, 2).contiguous()  # (n, h, w, c) -> (n, c, h, w)


def shift(images: torch.Tensor, dx: int, dy: int, fill: torch.Tensor | None) -> torch.Tensor:
    """Every image moved by the same ``dx``, ``dy`` (see :func:`shift_each`), by slicing: one copy."""
    if fill is None:
        return torch.roll(images, shifts=(dy, dx), dims=(2, 3))
    n, c, h, w = images.shape
    out = fill.view(1, c, 1, 1).to(images).expand(n, c, h, w).clone()
    if abs(dx) < w and abs(dy) < h:
        out[:, :, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
            :, :, max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)
        ]
    return out


def affine(
    images: torch.Tensor, *, degrees: float = 0.0, scale: float = 1.0, fill: torch.Tensor
) -> torch.Tensor:
    """Rotated by ``degrees`` (counter-clockwise) and scaled by ``scale`` about the centre, bilinear,
    what comes in filled with ``fill`` (square images: the rotation keeps angles)."""
    n, c = images.shape[:2]
    angle = math.radians(degrees)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(images.shape), align_corners=False)
    offset = fill.view(1, c, 1, 1).to(images)
    moved = F.grid_sample(images - offset, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved + offset


def occlude_border(images: torch.Tensor, width: int, fill: torch.Tensor) -> torch.Tensor:
    """A band of ``width`` px along all four borders replaced by ``fill``."""
    out = images.clone()
    value = fill.view(1, -1, 1).to(images)
    out[:, :, :width, :] = value.unsqueeze(-1)
    out[:, :, -width:, :] = value.unsqueeze(-1)
    out[:, :, :, :width] = value.unsqueeze(-2)
    out[:, :, :, -width:] = value.unsqueeze(-2)
    return out


def content_boxes(images: torch.Tensor, fill: torch.Tensor, threshold: float) -> torch.Tensor:
    """Each image's content box (N, 4: left, right, top, bottom, inclusive): the pixels that differ from
    ``fill`` by more than ``threshold`` of the image's largest difference (an even image: the whole frame)."""
    n, _, h, w = images.shape
    diff = (images - fill.view(1, -1, 1, 1).to(images)).abs().amax(dim=1)  # (n, h, w)
    content = diff > threshold * diff.flatten(1).amax(dim=1).view(n, 1, 1)
    empty = ~content.flatten(1).any(dim=1)
    content[empty] = True
    cols, rows = content.any(dim=1), content.any(dim=2)  # (n, w), (n, h)
    index_w, index_h = torch.arange(w, device=images.device), torch.arange(h, device=images.device)
    left = torch.where(cols, index_w, w).amin(dim=1)
    right = torch.where(cols, index_w, -1).amax(dim=1)
    top = torch.where(rows, index_h, h).amin(dim=1)
    bottom = torch.where(rows, index_h, -1).amax(dim=1)
    return torch.stack((left, right, top, bottom), dim=1)


def to_edge(images: torch.Tensor, edge: str, fill: torch.Tensor, threshold: float) -> torch.Tensor:
    """Each image's content moved until its box touches ``edge`` (left, right, top or bottom)."""
    boxes = content_boxes(images, fill, threshold)
    h, w = images.shape[2:]
    zero = torch.zeros_like(boxes[:, 0])
    dx = {"left": -boxes[:, 0], "right": (w - 1) - boxes[:, 1]}.get(edge, zero)
    dy = {"top": -boxes[:, 2], "bottom": (h - 1) - boxes[:, 3]}.get(edge, zero)
    return shift_each(images, dx, dy, fill)
