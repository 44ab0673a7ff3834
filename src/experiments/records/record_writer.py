"""Writing a job's :class:`~experiments.records.run_record.RunRecord` as it goes: atomically, redacted, with
paths relative to the run dir, the earlier attempt's record kept."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.records.atomic import keep_as, write_atomic
from experiments.records.run_record import RunRecord

_FIELDS = {f.name for f in fields(RunRecord) if f.metadata.get("persist", True)} - {"schema_version"}


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


class RecordWriter:
    """Accumulates a job's :class:`RunRecord` and rewrites its ``results.json`` at each update (tmp file,
    fsync, rename).

    Paths inside the run dir are recorded relative to it, so a moved or copied run dir stays right.
    A rerun (``sweep.resume``, ``resume=``) keeps the earlier record as ``results.attempt-N.json``:
    a second name of it, made only as the new record replaces it (never moved away before).
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = RunRecord.file(run_dir)
        self.record = RunRecord(status="running", path=str(run_dir))
        self._earlier = self.path.is_file()

    @classmethod
    def completing(cls, run_dir: str | Path) -> RecordWriter:
        """A writer that completes the record in ``run_dir`` in place: this attempt's record (``running``,
        ``interrupted``) gets its end written by the launcher that saw the job die, not kept as an attempt."""
        writer = cls(run_dir)
        earlier = RunRecord.read(run_dir)
        if earlier.status in ("running", "interrupted"):
            writer.record, writer._earlier = earlier, False
        return writer

    def _keep_earlier_attempt(self) -> None:
        attempt = 1
        while (kept := RunRecord.attempt_file(self.path.parent, attempt)).exists():
            attempt += 1
        keep_as(self.path, kept)
        self._earlier = False

    def update(self, **values: Any) -> None:
        """Set these fields (names of :class:`RunRecord`; a name it lacks is a bug) and write the record."""
        from experiments.records.redaction import redact

        unknown = sorted(set(values) - _FIELDS)
        if unknown:
            raise TypeError(f"RunRecord has no field {', '.join(unknown)}")
        for name, value in redact(relative_paths(_plain(values), self.path.parent)).items():
            setattr(self.record, name, value)
        if self._earlier and self.path.is_file():
            self._keep_earlier_attempt()
        write_atomic(self.path, json.dumps(self.record.to_json(), indent=2, sort_keys=False))


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
