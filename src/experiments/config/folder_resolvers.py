"""What an image folder tree says about itself, read at compose time (no torch): its classes and channels.

``conf/data/image_folder.yaml`` interpolates ``data.num_classes`` and ``data.channels`` from these, so
``data=image_folder data.root=DIR`` is all a user types; an explicit ``data.num_classes`` is a check.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from experiments.config.errors import ConfigError
from experiments.config.folder_files import first_image

SPLIT_FOLDERS = {"train", "val", "valid", "validation", "test"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def class_folders(root: str | Path) -> list[str]:
    """The class names of ``root/<class>/...`` or ``root/{train,val,test}/<class>/...``, sorted."""
    base = Path(str(root)).expanduser()
    if not base.is_dir():
        raise ConfigError("data.root", f"{base} does not exist; give a folder laid out as <class>/<image>")
    splits = [p for p in base.iterdir() if p.is_dir() and p.name in SPLIT_FOLDERS]
    parents = splits if any(p.name == "train" for p in splits) else [base]
    return sorted({d.name for parent in parents for d in parent.iterdir() if _is_class_dir(d)})


def _is_class_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def image_channels(root: str | Path) -> int:
    """1 when the first image of every class is greyscale, else 3 (colour)."""
    from PIL import Image

    base = Path(str(root)).expanduser()
    modes = set()
    for name in class_folders(base):
        for folder in (base / name, *(base / split / name for split in SPLIT_FOLDERS)):
            first = (
                first_image(folder) if folder.is_dir() else None
            )  # an unreadable file is refused elsewhere
            if first is not None:
                with Image.open(first) as image:
                    modes.add(image.mode)
                break
    return 1 if modes and modes <= GREY_MODES else 3


def check_image_folder(root: str | Path, num_classes: object) -> None:
    """Refuse a missing root, a tree of fewer than two classes, and a class count that the folders contradict.

    ``num_classes`` None: the count is the folders' own (nothing to contradict).
    """
    classes = class_folders(root)
    if len(classes) < 2:
        raise ConfigError(
            "data.root",
            f"{root} has {len(classes)} class folder(s) ({', '.join(classes) or 'none'}); "
            "a classifier needs at least 2: root/<class>/<image>",
        )
    if num_classes is not None and num_classes != len(classes):
        raise ConfigError(
            "data.num_classes",
            f"is {num_classes}, but {root} has {len(classes)} class folders ({', '.join(classes[:8])}"
            f"{', ...' if len(classes) > 8 else ''}); leave data.num_classes out to take the folders' count",
        )


def register_resolvers() -> None:
    """``${folder_classes:DIR}`` and ``${folder_channels:DIR}`` for the image_folder config."""
    if not OmegaConf.has_resolver("folder_classes"):
        OmegaConf.register_new_resolver("folder_classes", lambda root: len(class_folders(root)))
    if not OmegaConf.has_resolver("folder_channels"):
        OmegaConf.register_new_resolver("folder_channels", image_channels)
