"""Dataset readers: each decodes a whole dataset into uint8 image tensors (N, C, H, W) and int64 labels.

A source states its ``name``, ``channels``, ``native_size`` (``None`` where images vary) and, after
decoding, its class names. ``inputs()`` checks (or downloads) the files and lists them, so the
decoded tensors can be cached under their checksums; ``decode(image_size)`` reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from experiments.data.errors import DataSourceError

if TYPE_CHECKING:  # torch loads when a source decodes, not when a run's data files are checked
    import torch


@dataclass
class Decoded:
    """A whole dataset in memory; ``groups`` holds the dataset's own parts (``train``/``val``/``test``) as indices."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def to_state(self) -> dict[str, Any]:
        """Tensors, strings and lists only: loadable with ``torch.load(weights_only=True)``."""
        return {
            "images": self.images,
            "labels": self.labels,
            "classes": list(self.classes),
            "groups": dict(self.groups),
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Decoded:
        return cls(**state)


def missing_files_error(
    dataset: str, missing: list[str], folder: Path, root: Path, how: str
) -> DataSourceError:
    """One message naming the expected files, the directory searched, ``data.root`` and how to get them."""
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    return DataSourceError(
        f"{dataset}: expected files not found in {folder}: {shown}. "
        f"data.root is {root}; point it at the directory that holds them (data.root=/path/to/{root.name}), "
        f"or {how}"
    )


def fit_to_size(images: torch.Tensor, size: int, mode: str = "resize") -> torch.Tensor:
    """Bring uint8 images to ``size`` x ``size``: ``resize`` (bilinear, antialiased) or ``pad`` (centred, zeros)."""
    import torch
    import torch.nn.functional as F

    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    if mode == "pad":
        if height > size or width > size:
            raise ValueError(
                f"data.fit=pad cannot shrink {height}x{width} images to {size}x{size}; use data.fit=resize"
            )
        top, left = (size - height) // 2, (size - width) // 2
        return F.pad(images, (left, size - width - left, top, size - height - top))
    if mode != "resize":
        raise ValueError(f"data.fit must be 'resize' or 'pad', got {mode!r}")
    out = torch.empty(len(images), images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, len(images), 4096):  # chunks bound the float copy's memory
        chunk = images[start : start + 4096].float()
        resized = F.interpolate(
            chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[start : start + 4096] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


class Digits:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): offline, no download, no files."""

    name = "digits"
    channels = 1
    native_size = 8

    def inputs(self) -> list[Path]:
        return []

    def fingerprint(self) -> dict[str, Any]:
        return {"source": self.name}

    def decode(self, image_size: int | None = None) -> Decoded:
        import torch
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
        labels = torch.from_numpy(bunch.target.astype(np.int64))
        return Decoded(images, labels, [str(c) for c in range(10)])


class MNIST:
    """MNIST in torchvision's layout (``root/MNIST/raw/*-ubyte``, IDX); ``download=true`` fetches it with torchvision."""

    name = "mnist"
    channels = 1
    native_size = 28
    dataset_class = "MNIST"
    files = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )

    def __init__(self, root: str | Path, download: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.download = download

    @property
    def folder(self) -> Path:
        return self.root / self.dataset_class / "raw"

    def inputs(self) -> list[Path]:
        missing = [name for name in self.files if not (self.folder / name).is_file()]
        if missing and self.download:
            import torchvision.datasets

            try:
                getattr(torchvision.datasets, self.dataset_class)(str(self.root), download=True)
            except Exception as error:  # URLError, checksum RuntimeError, ...
                raise DataSourceError(
                    f"{self.dataset_class}: download into {self.folder} failed: {error}"
                ) from error
            missing = [name for name in self.files if not (self.folder / name).is_file()]
        if missing:
            raise missing_files_error(
                self.dataset_class,
                missing,
                self.folder,
                self.root,
                "set data.download=true to fetch them with torchvision (needs a network), "
                f"or place the uncompressed IDX files in {self.folder}",
            )
        return [self.folder / name for name in self.files]

    def fingerprint(self) -> dict[str, Any]:
        return {"source": self.name}

    def decode(self, image_size: int | None = None) -> Decoded:
        import torch
        import torchvision.datasets
        from torchvision.datasets.mnist import read_image_file, read_label_file

        paths = self.inputs()
        for path in paths:
            check_idx(path)
        try:
            train_x, train_y, test_x, test_y = (
                read_image_file(str(p)) if "images" in p.name else read_label_file(str(p)) for p in paths
            )
        except (AssertionError, RuntimeError, ValueError) as error:
            raise DataSourceError(
                f"{self.dataset_class}: cannot read the IDX files in {self.folder}: {error}"
            ) from error
        if len(train_x) != len(train_y) or len(test_x) != len(test_y):
            raise DataSourceError(f"{self.dataset_class}: image and label counts differ in {self.folder}")
        images = torch.cat([train_x, test_x]).unsqueeze(1).contiguous()
        labels = torch.cat([train_y, test_y]).long()
        n = len(train_x)
        groups = {"train": torch.arange(n), "test": torch.arange(n, len(labels))}
        classes = list(getattr(torchvision.datasets, self.dataset_class).classes)
        return Decoded(images, labels, classes, groups)


def check_idx(path: Path) -> None:
    """An IDX file's header (magic, dimensions) must match its size; names the file where it does not."""
    import struct

    with open(path, "rb") as handle:
        header = handle.read(4)
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08 or not 1 <= header[3] <= 3:
            raise DataSourceError(
                f"{path} is not an uncompressed IDX file of bytes (bad magic {header.hex()}); fetch it again"
            )
        dims = struct.unpack(f">{header[3]}I", handle.read(4 * header[3]))
    expected = 4 + 4 * len(dims) + math.prod(dims)
    actual = path.stat().st_size
    if actual != expected:
        shape = "x".join(str(d) for d in dims)
        raise DataSourceError(
            f"{path} is {'truncated' if actual < expected else 'too long'}: its header says {shape} "
            f"({expected:,} bytes) but the file has {actual:,}; fetch it again (data.download=true) or copy it whole"
        )


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando), MNIST's format and sizes: ``root/FashionMNIST/raw/*-ubyte``."""

    name = "fashion_mnist"
    dataset_class = "FashionMNIST"
