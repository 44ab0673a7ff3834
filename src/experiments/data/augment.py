"""Batched training augmentation on the device: one call per batch, random per image, no Python loop.

Configured by ``data.augment`` (per dataset, overridable per model or experiment), e.g.
``{crop_padding: 4, hflip: true}`` for CIFAR-10, ``{resized_crop_scale: [0.35, 1.0], hflip: true}``
for AlexNet on flowers, or LeCun et al. (1998)'s planar distortions for MNIST
(``{translate: 2, scale: [0.9, 1.1], squeeze: 0.1, shear: 0.2}``). Applied to training batches only;
validation and test batches are untouched.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Random crop after padding, random resized crop, horizontal flip, random planar distortions
    (translation in pixels, scaling, squeezing, horizontal shearing); all off by default."""

    crop_padding: int = 0
    padding_mode: str = "constant"
    resized_crop_scale: tuple[float, float] | None = None
    resized_crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: bool = False
    translate: float = 0.0
    scale: tuple[float, float] | None = None
    squeeze: float = 0.0
    shear: float = 0.0

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ValueError(f"data.augment.crop_padding must be >= 0, got {self.crop_padding}")
        if self.padding_mode not in ("constant", "reflect", "replicate"):
            raise ValueError(
                f"data.augment.padding_mode must be constant, reflect or replicate, got {self.padding_mode!r}"
            )
        if self.resized_crop_scale is not None:
            low, high = self.resized_crop_scale
            if not 0 < low <= high <= 1:
                raise ValueError(
                    f"data.augment.resized_crop_scale must satisfy 0 < low <= high <= 1, got {[low, high]}"
                )
        low, high = self.resized_crop_ratio
        if not 0 < low <= high:
            raise ValueError(
                f"data.augment.resized_crop_ratio must satisfy 0 < low <= high, got {[low, high]}"
            )
        if self.scale is not None and not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"data.augment.scale must satisfy 0 < low <= high, got {list(self.scale)}")
        for key in ("translate", "squeeze", "shear"):
            if getattr(self, key) < 0:
                raise ValueError(
                    f"data.augment.{key} must be >= 0 (the largest random amount), got {getattr(self, key)}"
                )
        if self.squeeze >= 1:
            raise ValueError(f"data.augment.squeeze must be < 1 (a fraction of the size), got {self.squeeze}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> Augment:
        """Build from ``data.augment``; unknown keys are an error that lists the known ones."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"data.augment: unknown option(s) {unknown}; known: {sorted(known)}")
        for key in ("resized_crop_scale", "resized_crop_ratio", "scale"):
            if config.get(key) is not None:
                config[key] = tuple(float(v) for v in config[key])
        return cls(**config)

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.hflip or self.resamples)

    @property
    def distorts(self) -> bool:
        """Whether a planar distortion is configured."""
        return bool(self.translate or self.scale or self.squeeze or self.shear)

    @property
    def resamples(self) -> bool:
        """Whether a transform interpolates (resized crop, distortion), so it needs float images."""
        return self.resized_crop_scale is not None or self.distorts

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Augment a float batch (N, C, H, W) on its own device."""
        if self.resized_crop_scale is not None:
            images = random_resized_crop(images, self.resized_crop_scale, self.resized_crop_ratio, self.hflip)
        elif self.hflip:
            images = random_hflip(images)
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, self.padding_mode)
        if self.distorts:
            images = random_distortion(
                images, translate=self.translate, scale=self.scale, squeeze=self.squeeze, shear=self.shear
            )
        return images


def random_hflip(images: torch.Tensor) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(len(images), device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_crop(images: torch.Tensor, padding: int, mode: str = "constant") -> torch.Tensor:
    """Pad every side by ``padding``, then cut an image-sized window at a random offset per image."""
    n, c, h, w = images.shape
    device = images.device
    padded = F.pad(images, (padding,) * 4, mode=mode)
    dy = torch.randint(0, 2 * padding + 1, (n,), device=device)
    dx = torch.randint(0, 2 * padding + 1, (n,), device=device)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :]
    batch = torch.arange(n, device=device)[:, None, None, None]
    channels = torch.arange(c, device=device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


def random_resized_crop(
    images: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float], hflip: bool = False
) -> torch.Tensor:
    """Crop a random box (area fraction in ``scale``, aspect in ``ratio``) per image and resize it back.

    One ``affine_grid`` + bilinear ``grid_sample`` for the whole batch; a flip is a negative x scale.
    """
    n = len(images)
    device = images.device
    area = torch.empty(n, device=device).uniform_(*scale)
    log_ratio = torch.empty(n, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # fractions of the image side
    height = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, device=device) * 2 - 1) * (1 - width)  # box centre in [-1, 1] coordinates
    cy = (torch.rand(n, device=device) * 2 - 1) * (1 - height)
    sx = width * (torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0) if hflip else 1.0)
    theta = torch.zeros(n, 2, 3, device=device, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sx, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_distortion(
    images: torch.Tensor,
    *,
    translate: float = 0.0,
    scale: tuple[float, float] | None = None,
    squeeze: float = 0.0,
    shear: float = 0.0,
) -> torch.Tensor:
    """LeCun et al. (1998)'s planar distortions, a random combination per image: a shift of up to
    ``translate`` pixels each way, a zoom in ``scale``, a squeeze (x by ``1 + s``, y by ``1 / (1 + s)``,
    ``|s| <= squeeze``) and a horizontal shear (``x += k y``, ``|k| <= shear``).

    One ``affine_grid`` + bilinear ``grid_sample`` for the whole batch; what moves in from outside
    the image is zero, the background before normalisation.
    """
    n, _, h, w = images.shape
    device, dtype = images.device, images.dtype

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.empty(n, device=device, dtype=dtype).uniform_(low, high)

    zoom = uniform(*scale) if scale is not None else torch.ones(n, device=device, dtype=dtype)
    squash = 1 + uniform(-squeeze, squeeze)
    k = uniform(-shear, shear)
    sx, sy = zoom * squash, zoom / squash
    # The grid maps output coordinates to input ones: the inverse of the image's transform
    # [[sx, k*sy], [0, sy]] (shear after scaling), shifted by t (in [-1, 1] units: 2 px / size).
    theta = torch.zeros(n, 2, 3, device=device, dtype=dtype)
    theta[:, 0, 0] = 1 / sx
    theta[:, 0, 1] = -k / sx
    theta[:, 1, 1] = 1 / sy
    theta[:, 0, 2] = uniform(-translate, translate) * 2 / w
    theta[:, 1, 2] = uniform(-translate, translate) * 2 / h
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
