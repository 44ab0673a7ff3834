"""Sources made of image files: Oxford 17 Flowers and any class-per-folder tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from experiments.data.images import IMAGE_SUFFIXES, read_images
from experiments.data.sources import DataSourceError, Decoded, missing_files_error
from experiments.data.splits import read_datasplits

SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


@dataclass
class FileIndex:
    """Every image file with its label, before decoding; ``groups`` as in :class:`Decoded`."""

    paths: list[Path]
    labels: torch.Tensor
    classes: list[str]
    groups: dict[str, torch.Tensor] = field(default_factory=dict)


class FileSource:
    """Shared decoding for sources whose images are files; subclasses provide ``index()``."""

    name = "files"
    channels = 3
    native_size: int | None = None
    skip_corrupt = False

    def index(self) -> FileIndex:
        raise NotImplementedError

    def inputs(self) -> list[Path]:
        return self.index().paths

    def fingerprint(self) -> dict[str, Any]:
        index = self.index()
        return {
            "source": self.name,
            "channels": self.channels,
            "skip_corrupt": self.skip_corrupt,
            "classes": index.classes,
            "labels": index.labels.tolist(),
        }

    def decode(self, image_size: int | None = None) -> Decoded:
        index = self.index()
        size = image_size or self.native_size or 224
        files = read_images(index.paths, size, self.channels, skip_corrupt=self.skip_corrupt)
        labels = index.labels[files.kept]
        groups = index.groups
        if files.skipped:  # renumber each group onto the images that decoded
            position = torch.full((len(index.paths),), -1, dtype=torch.long)
            position[files.kept] = torch.arange(len(files.kept))
            groups = {name: position[members][position[members] >= 0] for name, members in groups.items()}
        return Decoded(files.images, labels, index.classes, groups, files.skipped)


class Flowers17(FileSource):
    """Oxford 17 Category Flowers: ``root/jpg/image_0001.jpg`` ... ``image_1360.jpg``, 80 per class in order.

    With ``root/datasplits.mat`` (or ``splits_file``) the official split ``split`` (1..3) is used.
    """

    name = "flowers17"
    channels = 3
    images_per_class = 80
    num_images = 1360

    def __init__(
        self,
        root: str | Path,
        split: int = 1,
        splits_file: str | Path | None = None,
        skip_corrupt: bool = False,
    ) -> None:
        self.root = Path(root).expanduser()
        self.split = split
        self.splits_file = Path(splits_file).expanduser() if splits_file else self.root / "datasplits.mat"
        self.skip_corrupt = skip_corrupt

    def class_names(self) -> list[str]:
        listing = self.root / "classes.txt"
        if listing.is_file():
            names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            if len(names) == self.num_images // self.images_per_class:
                return names
        return [f"class_{i:02d}" for i in range(self.num_images // self.images_per_class)]

    def index(self) -> FileIndex:
        folder = self.root / "jpg"
        paths = [folder / f"image_{n:04d}.jpg" for n in range(1, self.num_images + 1)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise missing_files_error(
                "Oxford 17 Flowers",
                missing,
                folder,
                self.root,
                "download 17flowers.tgz from https://www.robots.ox.ac.uk/~vgg/data/flowers/17/ and extract it "
                f"into {self.root} (datasplits.mat from the same page gives the official splits)",
            )
        labels = torch.arange(self.num_images) // self.images_per_class
        return FileIndex(paths, labels, self.class_names())

    def split_groups(self) -> tuple[dict[str, torch.Tensor], str] | None:
        """The official split from ``datasplits.mat`` where that file exists, else ``None``."""
        if not self.splits_file.is_file():
            return None
        groups = read_datasplits(self.splits_file, self.split, self.num_images)
        return groups, f"official datasplits.mat split {self.split} ({self.splits_file})"


class ImageFolder(FileSource):
    """Any class-per-folder tree: ``root/<class>/<file>`` or ``root/{train,val,test}/<class>/<file>``.

    Classes are the folder names, sorted; files whose suffix is not an image type are ignored.
    """

    name = "image_folder"

    def __init__(self, root: str | Path, channels: int = 3, skip_corrupt: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.channels = channels
        self.skip_corrupt = skip_corrupt

    def _layout(self) -> dict[str, Path]:
        """``{"": root}`` for a flat tree, else the split folders found (``train`` at least)."""
        if not self.root.is_dir():
            raise DataSourceError(
                f"image_folder: directory {self.root} not found. Set data.root to a folder laid out as "
                "root/<class>/<image> or root/{train,val,test}/<class>/<image>"
            )
        found = {
            SPLIT_FOLDERS[p.name]: p
            for p in sorted(self.root.iterdir())
            if p.is_dir() and p.name in SPLIT_FOLDERS
        }
        if "train" in found:
            return found
        return {"": self.root}

    def index(self) -> FileIndex:
        layout = self._layout()
        class_dirs = {
            part: sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            for part, folder in layout.items()
        }
        classes = sorted({d.name for dirs in class_dirs.values() for d in dirs})
        if not classes:
            raise DataSourceError(
                f"image_folder: no class folders in {self.root}; expected root/<class>/<image> "
                "or root/{train,val,test}/<class>/<image> (data.root)"
            )
        label_of = {name: i for i, name in enumerate(classes)}
        paths: list[Path] = []
        labels: list[int] = []
        groups: dict[str, torch.Tensor] = {}
        for part, dirs in class_dirs.items():
            start = len(paths)
            for directory in dirs:
                files = sorted(
                    p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
                if not files and part in ("", "train"):
                    raise DataSourceError(
                        f"image_folder: class folder {directory} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                    )
                paths.extend(files)
                labels.extend([label_of[directory.name]] * len(files))
            if part:
                groups[part] = torch.arange(start, len(paths))
        return FileIndex(paths, torch.tensor(labels, dtype=torch.long), classes, groups)
