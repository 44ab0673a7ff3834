"""An image folder's files, checked before a run dir exists (PIL, no torch): every class has images, and
every image file opens as an image (header and structure, ``PIL.Image.verify``).

The same layout as :class:`experiments.data.folders.ImageFolder`: ``root/<class>/...`` or
``root/{train,val,test}/<class>/...``; files of other suffixes are ignored there and here.
"""

from __future__ import annotations

from pathlib import Path

from experiments.config.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
SPLITS = ("train", "val", "valid", "validation", "test")
_checked: set[tuple[str, bool]] = set()  # trees already found sound in this process (a sweep checks each job)
SKIP_HINT = "remove or replace it, or set data.skip_corrupt=true to skip unreadable images"


def layout(root: Path) -> dict[str, Path]:
    """``{"": root}`` for a flat tree, else the split folders found (``train`` at least)."""
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and p.name in SPLITS}
    return found if "train" in found else {"": root}


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable image, or None."""
    from PIL import Image, UnidentifiedImageError

    try:
        if path.stat().st_size == 0:
            return "the file is empty"
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return " ".join(str(error).split()) or type(error).__name__
    return None


def check_image_files(root: str | Path, skip_corrupt: bool = False) -> None:
    """Refuse (``data.root``) a class folder without images and, unless ``skip_corrupt``, a file that is no image."""
    base = Path(str(root)).expanduser()
    if not base.is_dir():
        raise ConfigError("data.root", f"{base} does not exist; give a folder laid out as <class>/<image>")
    if (str(base.resolve()), skip_corrupt) in _checked:
        return
    for part, folder in layout(base).items():
        for directory in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            files = image_files(directory)
            if not files and part in ("", "train"):
                raise ConfigError(
                    "data.root",
                    f"class folder {directory} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                    "add images or remove the folder",
                )
            if skip_corrupt:
                continue
            for path in files:
                problem = image_problem(path)
                if problem is not None:
                    raise ConfigError("data.root", f"{path} is not a readable image ({problem}); {SKIP_HINT}")
    _checked.add((str(base.resolve()), skip_corrupt))


def first_image(folder: Path) -> Path | None:
    """The first readable image under ``folder`` (an unreadable one is left to :func:`check_image_files`)."""
    return next((p for p in image_files(folder) if image_problem(p) is None), None)
