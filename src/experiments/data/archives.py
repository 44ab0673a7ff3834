"""Safe extraction for every archive the project opens: no member may land outside the target dir."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from experiments.data.sources import DataSourceError


def _inside(target: Path, name: str) -> bool:
    destination = (target / name).resolve()
    return destination == target or target in destination.parents


def check_members(archive: Path, target: Path) -> None:
    """Refuse absolute paths, ``..``, links that point outside, and device files, naming the member."""
    target = target.resolve()
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if not _inside(target, member.name):
                    raise DataSourceError(
                        f"{archive}: member '{member.name}' would be extracted outside {target}; refused"
                    )
                if (member.issym() or member.islnk()) and not _inside(
                    target, str(Path(member.name).parent / member.linkname)
                ):
                    raise DataSourceError(
                        f"{archive}: link '{member.name}' -> '{member.linkname}' points outside {target}; refused"
                    )
                if member.isdev():
                    raise DataSourceError(f"{archive}: member '{member.name}' is a device file; refused")
    elif zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                if not _inside(target, name):
                    raise DataSourceError(
                        f"{archive}: member '{name}' would be extracted outside {target}; refused"
                    )
    else:
        raise DataSourceError(f"{archive} is neither a tar nor a zip archive")


def safe_extract(archive: str | Path, target: str | Path) -> None:
    """Extract a tar (any compression) or zip archive into ``target`` after checking every member."""
    archive, target = Path(archive), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    check_members(archive, target)
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    else:
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(target)
