"""CIFAR-10 in its Python-pickle format, checked against torchvision's per-file MD5s before unpickling.

Pickles can run code when loaded, so a file is read only if its MD5 matches the published one; and
even then the unpickler accepts nothing but the few NumPy constructors the format needs.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.data.sources import DataSourceError, Decoded, missing_files_error

# torchvision.datasets.CIFAR10's published checksums (train_list, test_list, meta).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
TRAIN_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
FOLDER = "cifar-10-batches-py"

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Loads dicts, lists, strings, numbers and NumPy arrays; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def load_pickle(path: Path, expected_md5: str | None) -> dict[str, Any]:
    """Verify ``path`` against ``expected_md5`` (unless ``None``), then unpickle it with string keys."""
    data = path.read_bytes()
    if expected_md5 is not None:
        found = hashlib.md5(data).hexdigest()
        if found != expected_md5:
            raise DataSourceError(
                f"CIFAR-10: {path} has MD5 {found}, expected {expected_md5}; the file is corrupt or not "
                "CIFAR-10's, and it was not unpickled. Delete it and fetch it again (data.download=true)."
            )
    try:
        loaded = _ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as error:
        raise DataSourceError(f"CIFAR-10: cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise DataSourceError(f"CIFAR-10: {path} does not hold a dict (got {type(loaded).__name__})")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in loaded.items()}


class CIFAR10:
    """CIFAR-10 (50,000 train / 10,000 test, 32x32 RGB) in ``root/cifar-10-batches-py/``.

    ``checksums``: file name -> MD5; torchvision's by default. ``verify=false`` skips the check
    (for generated test files only: real CIFAR-10 files always match).
    """

    name = "cifar10"
    channels = 3
    native_size = 32

    def __init__(
        self,
        root: str | Path,
        download: bool = False,
        verify: bool = True,
        checksums: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root).expanduser()
        self.download = download
        self.verify = verify
        self.checksums = dict(CIFAR10_MD5 if checksums is None else checksums)

    @property
    def folder(self) -> Path:
        return self.root / FOLDER

    def _missing(self) -> list[str]:
        return [name for name in (*TRAIN_FILES, *TEST_FILES, META_FILE) if not (self.folder / name).is_file()]

    def inputs(self) -> list[Path]:
        missing = self._missing()
        if missing and self.download:
            from torchvision.datasets import CIFAR10 as Reference
            from torchvision.datasets.utils import download_url

            from experiments.data.archives import safe_extract

            try:
                download_url(
                    Reference.url, str(self.root), filename=Reference.filename, md5=Reference.tgz_md5
                )
                safe_extract(self.root / Reference.filename, self.root)
            except DataSourceError:
                raise
            except Exception as error:
                raise DataSourceError(f"CIFAR-10: download into {self.root} failed: {error}") from error
            missing = self._missing()
        if missing:
            raise missing_files_error(
                "CIFAR-10",
                missing,
                self.folder,
                self.root,
                "set data.download=true to fetch cifar-10-python.tar.gz with torchvision (needs a network), "
                f"or extract that archive into {self.root}",
            )
        return [self.folder / name for name in (*TRAIN_FILES, *TEST_FILES, META_FILE)]

    def fingerprint(self) -> dict[str, Any]:
        return {"source": self.name}

    def _expected(self, name: str) -> str | None:
        if not self.verify:
            return None
        if name not in self.checksums:
            raise DataSourceError(f"CIFAR-10: no checksum known for {name}; refusing to unpickle it")
        return self.checksums[name]

    def _batch(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        path = self.folder / name
        entry = load_pickle(path, self._expected(name))
        try:
            data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
        except (KeyError, TypeError, ValueError) as error:
            raise DataSourceError(f"CIFAR-10: {path} is not a CIFAR batch ({error})") from error
        if len(data) != len(labels):
            raise DataSourceError(f"CIFAR-10: {path} has {len(data)} images but {len(labels)} labels")
        return data, labels

    def decode(self, image_size: int | None = None) -> Decoded:
        self.inputs()
        meta = load_pickle(self.folder / META_FILE, self._expected(META_FILE))
        classes = [
            n.decode("latin1") if isinstance(n, bytes) else str(n) for n in meta.get("label_names", [])
        ]
        train = [self._batch(name) for name in TRAIN_FILES]
        test = [self._batch(name) for name in TEST_FILES]
        images = torch.from_numpy(np.concatenate([x for x, _ in train + test]))
        labels = torch.from_numpy(np.concatenate([y for _, y in train + test]))
        n = sum(len(y) for _, y in train)
        return Decoded(
            images, labels, classes, {"train": torch.arange(n), "test": torch.arange(n, len(labels))}
        )
