"""A run's per-image test predictions: ``test_predictions.npz`` in the run dir, written and read here.

For each test image, in the test set's fixed order (the order of the test split; under DDP the ranks'
shards are put back in that order before rank zero writes), the predicted class, the true class and
whether the prediction was right. ``RunRecord.test_predictions`` holds the file's path relative to the
run dir. Compare pairs two runs image by image with these (``comparison/analysis/test_images.py``).

The file is a compressed NumPy archive (``np.savez_compressed``) with

- ``predicted``, ``true``: 1-D, ``uint8`` up to 256 classes, ``uint16`` up to 65,536, else ``int32``
- ``correct``: 1-D ``bool``, ``predicted == true``
- ``num_classes``: a 0-d integer; ``format``: a 0-d integer, :data:`FORMAT`

MNIST's 10,000 test images take about 10 kB. It is written atomically (a temporary file
in the same dir, fsync, rename: :mod:`experiments.records.atomic`).

A run dir is untrusted input (copied from elsewhere, edited, truncated): :func:`read_predictions` never
unpickles (``allow_pickle=False``), reads each array's header before its data, checks shapes, dtypes and
values, and answers ``(None, reason)`` for a bad file instead of raising.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from experiments.records.atomic import atomic_open

if TYPE_CHECKING:
    from experiments.records.run_record import RunRecord

FILE = "test_predictions.npz"
FORMAT = 1
#: The most test images a file may hold (ImageNet's validation set is 50,000), and its largest size.
MAX_IMAGES = 10_000_000
MAX_FILE_BYTES = 256 * 2**20
ARRAYS = ("predicted", "true", "correct")
LABEL_DTYPES = (np.uint8, np.uint16, np.int32)


@dataclass(frozen=True)
class TestPredictions:
    """One run's predictions on its test images, in the test set's order (arrays of equal length)."""

    __test__ = False  # not a pytest test class, despite its name

    predicted: np.ndarray
    true: np.ndarray
    correct: np.ndarray  # bool
    num_classes: int

    @property
    def n(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n_correct(self) -> int:
        return int(self.correct.sum())

    @property
    def accuracy(self) -> float:
        return self.n_correct / self.n if self.n else float("nan")


def label_dtype(num_classes: int) -> type[np.integer]:
    """The smallest unsigned type that holds every class index (int32 beyond 65,536 classes)."""
    if num_classes <= 2**8:
        return np.uint8
    return np.uint16 if num_classes <= 2**16 else np.int32


def write_predictions(
    run_dir: str | Path, predicted: np.ndarray, true: np.ndarray, *, num_classes: int
) -> str:
    """Write ``test_predictions.npz`` into ``run_dir`` atomically; its path relative to ``run_dir``."""
    predicted, true = np.asarray(predicted).reshape(-1), np.asarray(true).reshape(-1)
    if predicted.shape != true.shape:
        raise ValueError(f"{predicted.shape[0]} predictions for {true.shape[0]} labels")
    dtype = label_dtype(num_classes)
    with atomic_open(Path(run_dir) / FILE, "wb") as handle:
        np.savez_compressed(
            handle,
            predicted=predicted.astype(dtype),
            true=true.astype(dtype),
            correct=predicted == true,
            num_classes=np.int64(num_classes),
            format=np.int64(FORMAT),
        )
    return FILE


def read_predictions(path: str | Path) -> tuple[TestPredictions | None, str | None]:
    """``(predictions, None)``, or ``(None, reason)`` for a missing, foreign, corrupt or inconsistent file."""
    path = Path(path)
    try:
        if not path.is_file():
            return None, f"no file {path}"
        if path.stat().st_size > MAX_FILE_BYTES:
            return None, f"{path} is larger than {MAX_FILE_BYTES // 2**20} MiB"
        return _read(path)
    except Exception as error:
        return None, f"unreadable {path}: {type(error).__name__}: {error}"


def predictions_of(record: RunRecord) -> tuple[TestPredictions | None, str | None]:
    """The predictions a record points to (its ``test_predictions``, relative to its run dir), or why none.

    The path comes from an untrusted ``results.json``: one that leaves the run dir is refused.
    """
    if not record.test_predictions:
        return None, f"{record.name or record.path}: no per-image test predictions recorded"
    if not record.path:
        return None, f"{record.name}: no run dir to read its predictions from"
    run_dir = Path(record.path).resolve()
    target = (run_dir / record.test_predictions).resolve()
    if not target.is_relative_to(run_dir):
        return None, f"{record.path}: test_predictions {record.test_predictions!r} is outside the run dir"
    return read_predictions(target)


def _read(path: Path) -> tuple[TestPredictions | None, str | None]:
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        missing = [name for name in (*ARRAYS, "num_classes") if f"{name}.npy" not in names]
        if missing:
            return None, f"{path} is not a predictions file: no {', '.join(missing)}"
        for name in (*ARRAYS, "num_classes"):  # headers first: no array of a forged size is allocated
            with archive.open(f"{name}.npy") as member:
                version = np.lib.format.read_magic(member)
                if version not in ((1, 0), (2, 0)):
                    return None, f"{path}: `{name}` is an .npy of version {version}"
                read_header = getattr(np.lib.format, f"read_array_header_{version[0]}_0")
                shape, _, dtype = read_header(member)
            problem = _header_problem(name, shape, dtype)
            if problem:
                return None, f"{path}: {problem}"
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in (*ARRAYS, "num_classes")}
    predicted, true, correct = (arrays[name] for name in ARRAYS)
    num_classes = int(arrays["num_classes"])
    if not predicted.shape == true.shape == correct.shape:
        return None, f"{path}: arrays of different lengths {predicted.shape}, {true.shape}, {correct.shape}"
    if num_classes < 1:
        return None, f"{path}: num_classes is {num_classes}"
    for name, labels in (("predicted", predicted), ("true", true)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            return None, f"{path}: `{name}` holds a class outside 0..{num_classes - 1}"
    if not np.array_equal(correct, predicted == true):
        return None, f"{path}: `correct` disagrees with `predicted == true`"
    return TestPredictions(predicted, true, correct, num_classes), None


def _header_problem(name: str, shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    if name == "num_classes":
        ok = shape == () and dtype.kind in "iu"
        return None if ok else f"`num_classes` is not one integer ({dtype}, shape {shape})"
    if len(shape) != 1 or shape[0] > MAX_IMAGES:
        return f"`{name}` has shape {shape}, expected one dimension of at most {MAX_IMAGES:,} images"
    expected = (np.dtype(np.bool_),) if name == "correct" else tuple(np.dtype(t) for t in LABEL_DTYPES)
    if dtype not in expected:
        return f"`{name}` is {dtype}, expected {' or '.join(str(t) for t in expected)}"
    return None
