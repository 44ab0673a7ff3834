"""``metrics.csv`` across attempts: rows an attempt redoes replace the earlier attempt's, written atomically."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from experiments.records.atomic import atomic_open


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of an existing ``metrics.csv`` (nothing where there is none)."""
    if not path.is_file():
        return [], []
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _logged(row: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(k for k, v in row.items() if v not in (None, "") and k != "step")


def _step(row: Mapping[str, Any]) -> float:
    try:
        return float(row.get("step"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("-inf")


def kept_rows(
    earlier: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The earlier attempts' rows that this attempt does not redo.

    An attempt restarts from a checkpoint (or from scratch) and logs every step after it again: an
    earlier row is dropped when it is at or after the first step this attempt logged in an epoch, or
    when this attempt logged the same step with the same keys (the model summary, the learning rate).
    """
    progress = [_step(r) for r in new if r.get("epoch") not in (None, "")]
    first = min(progress) if progress else float("inf")
    again = {(_step(r), _logged(r)) for r in new}
    return [r for r in earlier if _step(r) < first and (_step(r), _logged(r)) not in again]


def write_rows(
    path: Path, keys: Sequence[str], earlier: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Write ``metrics.csv`` whole (tmp file, fsync, rename): the kept earlier rows, then this attempt's; the header."""
    rows = [*kept_rows(earlier, new), *new]
    header = sorted(set(keys).union(*(r.keys() for r in new)))
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return header
