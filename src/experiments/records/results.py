"""``results.json``: the record of one job, rewritten atomically as the job goes."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.records.atomic import keep_as, write_atomic

RESULTS_FILE = "results.json"


def _plain(value: Any) -> Any:
    """JSON-safe copy: tensors and numpy scalars to numbers, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


class Results:
    """Accumulates fields and writes them to ``run_dir/results.json`` (tmp file, fsync, rename).

    Paths inside the run dir are recorded relative to it, so a moved or copied run dir stays right.
    A rerun (``sweep.resume``, ``resume=``) keeps the earlier record as ``results.attempt-N.json``:
    a second name of it, made only as the new record replaces it (never moved away before).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.data: dict[str, Any] = {}
        self._earlier = self.path.is_file()

    def _keep_earlier_attempt(self) -> None:
        attempt = 1
        while (kept := self.path.with_name(f"results.attempt-{attempt}.json")).exists():
            attempt += 1
        keep_as(self.path, kept)
        self._earlier = False

    def update(self, **fields: Any) -> None:
        from experiments.records.redaction import redact

        self.data.update(redact(relative_paths(_plain(fields), self.path.parent)))
        if self._earlier and self.path.is_file():
            self._keep_earlier_attempt()
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=False))


def relative_paths(value: Any, run_dir: Path) -> Any:
    """A copy of ``value`` where each string naming a path inside ``run_dir`` is relative to it (the dir: ``.``)."""
    if isinstance(value, dict):
        return {k: relative_paths(v, run_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_paths(v, run_dir) for v in value]
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 4096:
        return value
    root = run_dir.resolve()
    candidate = Path(value)
    if not candidate.is_absolute() and not value.startswith(str(run_dir)):
        return value
    try:
        inside = candidate.resolve().relative_to(root)
    except (ValueError, OSError):
        return value
    return str(inside)


def read_results(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "experiments",
        "torch",
        "torchvision",
        "pytorch-lightning",
        "torchmetrics",
        "hydra-core",
        "wandb",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found
