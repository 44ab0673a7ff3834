"""A disk cache of decoded datasets, keyed by the source, the image size and its files' checksums.

Entries are written with ``torch.save`` (tensors, strings and lists only) and read back with
``torch.load(weights_only=True)``, so a cache file can never run code. A cache that cannot be
written (a read-only directory) or read (a truncated file) is reported and bypassed, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from experiments.data.sources import Decoded, fit_to_size

log = logging.getLogger("experiments.data")
FORMAT_VERSION = 1


@dataclass
class CacheResult:
    decoded: Decoded
    status: str  # "hit", "miss" (decoded and written), "off", "unwritable"
    path: Path | None = None


_DIGESTS: dict[tuple[Any, ...], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes; a process reads an unchanged file (same inode, size, mtime) once.

    The jobs of a sweep in one process share the data files: MNIST's 55 MB take ~0.5 s to hash.
    """
    stat = path.stat()
    key = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        with path.open("rb") as handle:
            _DIGESTS[key] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _DIGESTS[key]


def cache_key(fingerprint: dict[str, Any], image_size: int, fit: str, files: Sequence[Path]) -> str:
    """SHA-256 over the source's parameters, the target size and every input file's path and checksum."""
    digest = hashlib.sha256()
    header = {"version": FORMAT_VERSION, "source": fingerprint, "image_size": image_size, "fit": fit}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for path in files:
        digest.update(f"\n{path}\0{file_digest(path)}".encode())
    return digest.hexdigest()


def decode_fitted(source: Any, image_size: int, fit: str) -> Decoded:
    """Decode ``source`` and bring its images to ``image_size`` x ``image_size``."""
    decoded = source.decode(image_size)
    decoded.images = fit_to_size(decoded.images, image_size, fit)
    return decoded


def load_or_decode(source: Any, image_size: int, fit: str, cache_dir: str | Path | None) -> CacheResult:
    """The decoded, size-fitted dataset: from ``cache_dir`` where an entry matches, else decoded (and stored)."""
    files = source.inputs()  # checks presence (or downloads) before anything else
    if cache_dir is None or not files:
        return CacheResult(decode_fitted(source, image_size, fit), "off")
    key = cache_key(source.fingerprint(), image_size, fit, files)
    path = Path(cache_dir).expanduser() / f"{source.name}-{image_size}px-{key[:20]}.pt"
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            return CacheResult(Decoded.from_state(state), "hit", path)
        except Exception as error:  # truncated or foreign file: decode again and overwrite it
            log.warning("ignoring unreadable data cache %s (%s)", path, error)
    decoded = decode_fitted(source, image_size, fit)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        torch.save(decoded.to_state(), partial)
        os.replace(partial, path)
    except OSError as error:
        log.warning(
            "cannot write the data cache %s (%s); set data.cache_dir to a writable folder", path, error
        )
        return CacheResult(decoded, "unwritable", path)
    return CacheResult(decoded, "miss", path)
