"""Dataset readers: each returns whole splits as uint8 image tensors (N, C, H, W) and int64 labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class DataSourceError(RuntimeError):
    """A dataset is missing or unreadable; the message names the files, the directory and the fix."""


@dataclass
class Splits:
    """What a source provides: ``train`` always, ``val``/``test`` where the dataset defines them."""

    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor] | None = None
    val: tuple[torch.Tensor, torch.Tensor] | None = None
    classes: list[str] = field(default_factory=list)
    protocol: str = ""


def fit_to_size(images: torch.Tensor, size: int, mode: str = "resize") -> torch.Tensor:
    """Bring uint8 images to ``size`` x ``size``: ``resize`` (bilinear, antialiased) or ``pad`` (centred, zeros)."""
    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    if mode == "pad":
        if height > size or width > size:
            raise ValueError(f"data.fit=pad cannot shrink {height}x{width} images to {size}x{size}; use data.fit=resize")
        top, left = (size - height) // 2, (size - width) // 2
        return F.pad(images, (left, size - width - left, top, size - height - top))
    if mode != "resize":
        raise ValueError(f"data.fit must be 'resize' or 'pad', got {mode!r}")
    resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized.round_().clamp_(0, 255).to(torch.uint8)


class Digits:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): offline, no download."""

    name = "digits"
    channels = 1
    native_size = 8

    def load(self, image_size: int | None = None) -> Splits:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        images = torch.from_numpy(np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
        labels = torch.from_numpy(bunch.target.astype(np.int64))
        return Splits(train=(images, labels), classes=[str(c) for c in range(10)], protocol="seeded stratified split")


class MNIST:
    """MNIST in torchvision's layout (``root/MNIST/raw/*-ubyte``); ``download=true`` fetches it with torchvision."""

    name = "mnist"
    channels = 1
    native_size = 28
    dataset_class = "MNIST"
    files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

    def __init__(self, root: str | Path, download: bool = False) -> None:
        self.root = Path(root)
        self.download = download

    def load(self, image_size: int | None = None) -> Splits:
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, self.dataset_class)
        raw = self.root / self.dataset_class / "raw"
        missing = [name for name in self.files if not (raw / name).is_file()]
        if missing and not self.download:
            raise DataSourceError(
                f"{self.dataset_class} files not found: {', '.join(missing)} in {raw}. "
                f"Set data.root to the directory that holds {self.dataset_class}/raw/ "
                f"(now {self.root}), or data.download=true to fetch them."
            )
        try:
            train = dataset_class(str(self.root), train=True, download=self.download)
            test = dataset_class(str(self.root), train=False, download=self.download)
        except Exception as error:  # torchvision raises RuntimeError/URLError for missing or bad files
            raise DataSourceError(f"could not read {self.dataset_class} from {raw}: {error}") from error
        return Splits(
            train=(train.data.unsqueeze(1).contiguous(), train.targets.long()),
            test=(test.data.unsqueeze(1).contiguous(), test.targets.long()),
            classes=list(train.classes),
            protocol="official train/test split",
        )


class Flowers17:
    """Oxford 17 Category Flowers: ``root/jpg/image_0001.jpg`` ... ``image_1360.jpg``, 80 per class in order."""

    name = "flowers17"
    channels = 3
    images_per_class = 80
    num_images = 1360

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def class_names(self) -> list[str]:
        listing = self.root / "classes.txt"
        if listing.is_file():
            return [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        return [f"class_{i:02d}" for i in range(self.num_images // self.images_per_class)]

    def load(self, image_size: int | None = None) -> Splits:
        from torchvision.io import ImageReadMode, decode_image, read_file

        folder = self.root / "jpg"
        paths = [folder / f"image_{n:04d}.jpg" for n in range(1, self.num_images + 1)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DataSourceError(
                f"Oxford 17 Flowers: {len(missing)} of {self.num_images} images missing in {folder} "
                f"(first: {missing[0]}). Set data.root to the directory that holds jpg/image_0001.jpg "
                f"(now {self.root}); the archive is 17flowers.tgz from the Oxford VGG site."
            )
        size = image_size or 224
        images = torch.empty(len(paths), 3, size, size, dtype=torch.uint8)
        for i, path in enumerate(paths):
            try:
                image = decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
            except RuntimeError as error:
                raise DataSourceError(f"cannot decode {path}: {error}") from error
            images[i] = resize_and_center_crop(image, size)
        labels = torch.arange(self.num_images) // self.images_per_class
        return Splits(train=(images, labels), classes=self.class_names(), protocol="seeded stratified 40/20/20 split")


def resize_and_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Scale the shorter side to ``size`` (antialiased), then cut the central ``size`` x ``size`` square."""
    from torchvision.transforms.v2 import functional as TF

    image = TF.resize(image, size, antialias=True)
    return TF.center_crop(image, [size, size])
