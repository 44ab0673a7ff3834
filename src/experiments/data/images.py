"""Decoding image files into square uint8 tensors: one file, or many in parallel threads."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from experiments.data.sources import DataSourceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class CorruptImageError(DataSourceError):
    """An image file that cannot be decoded; ``path`` names it."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"cannot decode image {path}: {reason}. Remove or replace the file, "
            "or set data.skip_corrupt=true to skip unreadable images (they are counted in results.json)"
        )
        self.path = path


def resize_and_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Scale the shorter side to ``size`` (antialiased), then cut the central ``size`` x ``size`` square."""
    from torchvision.transforms.v2 import functional as TF

    if image.shape[-2:] != (size, size):
        image = TF.resize(image, size, antialias=True)
        image = TF.center_crop(image, [size, size])
    return image.contiguous()


def _decode_with_pil(path: Path, channels: int) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB" if channels == 3 else "L"))
    tensor = torch.from_numpy(array.copy())
    return tensor.permute(2, 0, 1) if tensor.ndim == 3 else tensor.unsqueeze(0)


def read_image(path: Path, size: int, channels: int = 3) -> torch.Tensor:
    """Decode ``path`` as RGB (``channels=3``) or grey, resized and centre-cropped to ``size``; uint8 (C, H, W)."""
    from torchvision.io import ImageReadMode, decode_image

    mode = ImageReadMode.RGB if channels == 3 else ImageReadMode.GRAY
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorruptImageError(path, f"unreadable ({error.strerror or error})") from error
    if not data:
        raise CorruptImageError(path, "the file is empty")
    try:
        image = decode_image(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=mode)
    except (RuntimeError, ValueError):
        try:  # formats torchvision.io does not decode (BMP, TIFF, PPM)
            image = _decode_with_pil(path, channels)
        except Exception as error:
            raise CorruptImageError(path, str(error) or type(error).__name__) from error
    return resize_and_center_crop(image, size)


@dataclass
class DecodedFiles:
    """The images that decoded (in order) and, with ``skip_corrupt``, the files that did not."""

    images: torch.Tensor
    kept: torch.Tensor
    skipped: list[str] = field(default_factory=list)


def read_images(
    paths: Sequence[Path],
    size: int,
    channels: int = 3,
    *,
    skip_corrupt: bool = False,
    threads: int | None = None,
) -> DecodedFiles:
    """Decode many files in a thread pool (decoding releases the GIL) into one (N, C, size, size) tensor."""
    images = torch.empty(len(paths), channels, size, size, dtype=torch.uint8)
    ok = torch.zeros(len(paths), dtype=torch.bool)
    skipped: list[str] = []

    def work(i: int) -> None:
        try:
            images[i] = read_image(paths[i], size, channels)
            ok[i] = True
        except CorruptImageError:
            if not skip_corrupt:
                raise
            skipped.append(str(paths[i]))

    workers = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(work, i) for i in range(len(paths))]:
            future.result()
    kept = torch.nonzero(ok).flatten()
    return DecodedFiles(images[kept] if skipped else images, kept, sorted(skipped))
