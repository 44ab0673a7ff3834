"""Files that survive a full disk or a kill: a temporary file in the same dir, flushed, fsynced, renamed.

A reader sees the earlier file or the new one, never a part of one. On ENOSPC (or a full quota) the
temporary file is removed and :class:`NoSpaceLeft` names the dir; the earlier file is untouched.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
TMP_SUFFIX = ".tmp"


class NoSpaceLeft(OSError):
    """The disk (or quota) of ``path`` is full; the file that was there before is intact."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(
            errno.ENOSPC, f"no space left on {self.path.parent} (writing {self.path.name})", str(path)
        )

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[type, tuple[str]]:  # pickled back from a launcher's worker process
        return NoSpaceLeft, (str(self.path),)


def no_space(error: BaseException | None) -> NoSpaceLeft | None:
    """The :class:`NoSpaceLeft` behind ``error`` (an ENOSPC ``OSError`` anywhere in its chain), else None."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, NoSpaceLeft):
            return error
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return NoSpaceLeft(error.filename or "?")
        error = error.__cause__ or error.__context__
    return None


def temporary_path(path: Path) -> Path:
    """Where ``path`` is written before its rename: a hidden name in the same dir, one per writer."""
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}{TMP_SUFFIX}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; it replaces ``path`` once fsynced."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as error:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        if not isinstance(error, NoSpaceLeft) and no_space(error) is not None:
            raise NoSpaceLeft(path) from error
        raise
    fsync_dir(path.parent)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: str) -> Iterator[IO]:
    """``open(path, mode)`` on a temporary file that replaces ``path`` only once written and fsynced."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_atomic(path: str | Path, data: str | bytes | memoryview) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns ``path``."""
    text = isinstance(data, str)
    with atomic_open(path, "w" if text else "wb", **({"encoding": "utf-8"} if text else {})) as handle:
        handle.write(data)
    return Path(path)


def fsync_dir(directory: str | Path) -> None:
    """Make a rename in ``directory`` durable (where the OS allows opening a directory)."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def keep_as(path: Path, kept: Path) -> None:
    """``kept`` becomes a second name of ``path`` (a hard link: no space needed), else an atomic copy."""
    try:
        os.link(path, kept)
    except FileExistsError:
        raise
    except OSError:
        write_atomic(kept, path.read_bytes())
    fsync_dir(kept.parent)


def remove_stale_temporaries(directory: Path) -> None:
    """Remove the temporary files that writers killed mid-write left in ``directory``."""
    for stale in directory.glob(f".*{TMP_SUFFIX}"):
        pid = stale.name.rsplit(".", 2)[-2].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with suppress(OSError):
                stale.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
