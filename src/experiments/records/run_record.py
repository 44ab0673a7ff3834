"""``RunRecord``: the typed record of one job, and the only reader and writer of its ``results.json``.

A dataclass rather than a pydantic model: the record is read where no torch may load (the sweep's
progress lines, compare, the dry run), its fields are few and flat, and old records must load leniently
(a field missing or of another version is kept, not rejected), which explicit parsing says plainly.

``results.json`` holds :meth:`RunRecord.to_json`; ``schema_version`` says which layout: 1 is every
record written before the field existed (the same top-level keys), 2 adds ``schema_version``. Unknown
keys are kept in ``extra`` and written back unchanged. The W&B readers in compare and the ``runs.csv``
rows of earlier compare reports (``docs/study/``, ``docs/results/``) become RunRecords too
(:mod:`experiments.records.runs_csv`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 2
#: A job's status once it ended; ``running`` and ``interrupted`` records may still change.
FINAL_STATUSES = frozenset({"ok", "failed", "interrupted", "skipped"})


class RecordError(ValueError):
    """A ``results.json`` that is not one of our records (another schema, a list, truncated JSON)."""


@dataclass
class RunRecord:
    """One job: who it is, how it ended, what it measured; field names are the keys of ``results.json``."""

    status: str = "unknown"  # running, ok, failed, interrupted; missing / unreadable when read back
    error: str | None = None
    traceback: list[str] | None = None
    run_dir: str | None = None
    name: str = ""
    overrides: list[str] = field(default_factory=list)
    group: str | None = None  # the sweep (W&B group) the job belongs to
    swept: dict[str, str] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)  # the option of each config group (pooling: max)
    model: str | None = None
    data: str | None = None
    seed: int | None = None
    resumed_from: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    wandb: dict[str, Any] | None = None
    wandb_sync: str | None = None
    params: dict[str, int] | None = None  # total, trainable
    flops: int | None = None
    summary: dict[str, Any] | None = None  # the layer table
    device: dict[str, Any] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    epochs: int | None = None
    best_checkpoint: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_numbering: str | None = None
    throughput: dict[str, float | None] = field(default_factory=dict)
    fit_time_s: float | None = None
    wall_time_s: float | None = None
    data_info: dict[str, Any] = field(default_factory=dict)
    confusion_matrix: list[list[float]] | None = None
    plots: list[str] = field(default_factory=list)
    identical_to: str | None = None  # a copy of an earlier job of the sweep (sweeps/identical.py)
    # hydra/sweeper=fair: tune (the tuning stage), best (an arm at its own chosen setting) or shared (an arm
    # at the config's own setting), and the keys that stage tunes (study.stage, study.tuned).
    study_stage: str | None = None
    tuned_keys: list[str] = field(default_factory=list)
    # The stopping rule the job trained under (monitor, mode, patience, min_delta, max_epochs), what ended
    # it (patience or budget), and whether it hit the epoch budget still improving.
    stopping: dict[str, Any] | None = None
    stopped_by: str | None = None
    still_improving: bool | None = None
    # The per-image test predictions, relative to the run dir (records/test_predictions.py).
    test_predictions: str | None = None
    # An evaluation that read fewer batches than its split holds: per part (val, test) the batches read of
    # all, the images, and the classes seen of all (training/recipe.py::limited_evaluation).
    limited_evaluation: dict[str, Any] | None = None
    # The probes after the test (training/probing.py): which ran, on how many images, whether the test was
    # limited, their seconds and ``probes.json`` (their curves); their metrics are in ``metrics`` as probe/...
    probes: dict[str, Any] | None = None
    # ``experiments test``: what was evaluated (checkpoint, run dir, the data it was trained on).
    evaluated: dict[str, Any] | None = None
    # A job that its scheduler ended (SLURM: CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED), as the
    # launcher read it when the job returned nothing (hydra_plugins/experiments_launcher/submitit_launcher.py).
    scheduler_state: str | None = None
    note: str | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # keys of other versions, written back as read
    # Where this record was read from; never written into results.json.
    path: str = field(default="", metadata={"persist": False})
    # results.json, wandb-offline, wandb-api, runs.csv
    source: str = field(default=RESULTS_FILE, metadata={"persist": False})
    config: dict[str, Any] = field(default_factory=dict, metadata={"persist": False})  # .hydra/config.yaml

    # JSON types each top-level key may have (besides null); checked on reading.
    JSON_TYPES: ClassVar[dict[str, tuple[type, ...]]] = {
        "status": (str,),
        "error": (str,),
        "metrics": (dict,),
        "history": (list,),
        "overrides": (list,),
        "params": (dict, int, float),
        "throughput": (dict,),
        "data_info": (dict,),
        "choices": (dict,),
        "swept": (dict,),
        "confusion_matrix": (list,),
        "wandb": (dict,),
        "plots": (list,),
        "versions": (dict,),
        "study_stage": (str,),
        "tuned_keys": (list,),
        "stopping": (dict,),
        "stopped_by": (str,),
        "still_improving": (bool,),
        "test_predictions": (str,),
        "limited_evaluation": (dict,),
        "evaluated": (dict,),
        "scheduler_state": (str,),
        "probes": (dict,),
    }

    # ---- reading -------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any, **where: Any) -> RunRecord:
        """The record of a parsed ``results.json`` (any schema version); raises :class:`RecordError`."""
        if not isinstance(data, dict):
            found = "null" if data is None else type(data).__name__
            raise RecordError(f"expected a JSON object, found {found}")
        if "status" not in data:
            raise RecordError("no `status` field: not a results.json written by this framework")
        for key, kinds in cls.JSON_TYPES.items():
            if data.get(key) is not None and not isinstance(data[key], kinds):
                expected = " or ".join(k.__name__ for k in kinds)
                raise RecordError(f"`{key}` is a {type(data[key]).__name__}, expected {expected}")
        known = {f.name for f in fields(cls) if f.metadata.get("persist", True)} - {"extra"}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known and v is not None}
        values["schema_version"] = integer(data.get("schema_version")) or 1
        params = values.get("params")
        if isinstance(params, int | float):  # a bare count in early records (NaN or inf: unknown)
            total = integer(params)
            values["params"] = None if total is None else {"total": total, "trainable": total}
        try:
            values["metrics"] = _numbers(values.get("metrics", {}))
            values["history"] = [_numbers(row) for row in values.get("history", []) if isinstance(row, dict)]
            values["overrides"] = [str(o) for o in values.get("overrides", [])]
            values["tuned_keys"] = [str(k) for k in values.get("tuned_keys", [])]
            for key in ("choices", "swept"):
                values[key] = {str(k): str(v) for k, v in values.get(key, {}).items()}
            for key in ("seed", "flops", "best_epoch", "epochs"):
                if key in values:
                    values[key] = integer(values[key])
            for key in ("fit_time_s", "wall_time_s"):
                if key in values:
                    values[key] = number(values[key])
        except (TypeError, ValueError, AttributeError) as error:  # a field deeper down of another shape
            raise RecordError(f"unexpected content ({type(error).__name__}: {error})") from error
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extra=extra, **where)

    @classmethod
    def read(cls, run_dir: str | Path, *, config: dict[str, Any] | None = None) -> RunRecord:
        """The record in ``run_dir``: status ``missing`` without a file, ``unreadable`` (with the reason) when
        the file is not one of ours. Never raises for a bad file."""
        run_dir = Path(run_dir)
        where = {"path": str(run_dir), "config": config or {}}
        path = run_dir / RESULTS_FILE
        if not path.is_file():
            return cls(
                status="missing",
                error=f"no {RESULTS_FILE}: the job did not start or was killed before writing it",
                source="missing",
                **where,
            )
        try:
            return cls.from_json(json.loads(path.read_text()), **where)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, RecordError) as error:
            return cls(status="unreadable", error=f"unreadable {path}: {error}", **where)

    @staticmethod
    def exists(run_dir: str | Path) -> bool:
        return (Path(run_dir) / RESULTS_FILE).is_file()

    @staticmethod
    def file(run_dir: str | Path) -> Path:
        """Where the record of ``run_dir`` lives (for a file's modification time; read it with :meth:`read`)."""
        return Path(run_dir) / RESULTS_FILE

    @staticmethod
    def attempt_file(run_dir: str | Path, attempt: int) -> Path:
        """Where a rerun keeps the record of an earlier attempt (``results.attempt-N.json``, N from 1)."""
        return Path(run_dir) / f"{Path(RESULTS_FILE).stem}.attempt-{attempt}.json"

    @classmethod
    def earlier_attempts(cls, run_dir: str | Path) -> list[RunRecord]:
        """The records of a run's earlier attempts (resumed or re-run), oldest first."""
        found, attempt = [], 1
        while (path := cls.attempt_file(run_dir, attempt)).is_file():
            try:
                found.append(cls.from_json(json.loads(path.read_text()), path=str(run_dir)))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecordError) as error:
                found.append(cls(status="unreadable", error=f"unreadable {path}: {error}", path=str(run_dir)))
            attempt += 1
        return found

    @staticmethod
    def files_of_sweep(sweep_dir: str | Path) -> list[Path]:
        """The record files of a sweep's numbered job dirs that have one, in job order."""
        found = (p for p in Path(sweep_dir).glob(f"*/{RESULTS_FILE}") if p.parent.name.isdigit())
        return sorted(found, key=lambda p: int(p.parent.name))

    # ---- writing -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` document: every persisted field (``null`` where unknown), then ``extra``."""
        document = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get("persist", True) and f.name != "extra"
        }
        return document | {k: v for k, v in self.extra.items() if k not in document}

    # ---- what readers ask ------------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def params_total(self) -> int | None:
        return integer((self.params or {}).get("total"))

    @property
    def images_per_s(self) -> float | None:
        return number(self.throughput.get("train_images_per_s"))

    @property
    def train_seconds(self) -> float | None:
        return number(self.throughput.get("train_seconds"))

    @property
    def classes(self) -> list[str] | None:
        classes = self.data_info.get("classes")
        return [str(c) for c in classes] if isinstance(classes, list) else None

    @property
    def override_values(self) -> dict[str, str]:
        """The overrides as ``{key: value}`` (``+x=1`` -> ``x``; deletions dropped)."""
        return parse_overrides(self.overrides)

    def metric(self, key: str) -> float | None:
        """A final metric; ``val/acc_best`` falls back on the best epoch of the history."""
        value = self.metrics.get(key)
        if value is None and key == "val/acc_best":
            values = [row["val/acc"] for row in self.history if finite(row.get("val/acc"))]
            value = max(values) if values else None
        return float(value) if finite(value) else None

    def config_value(self, dotted: str) -> Any:
        from experiments.config.lookup import select

        return select(self.config, dotted)


def read_records(run_dirs: Iterable[str | Path]) -> Iterator[RunRecord]:
    for run_dir in run_dirs:
        yield RunRecord.read(run_dir)


# ---- values -----------------------------------------------------------------------------------------


def parse_overrides(overrides: Iterable[str]) -> dict[str, str]:
    """``["pooling=max", "+x=1", "~y"]`` -> ``{"pooling": "max", "x": "1"}`` (deletions are dropped)."""
    parsed: dict[str, str] = {}
    for item in overrides:
        item = str(item).strip()
        if "=" not in item or item.startswith("~"):
            continue
        key, value = item.lstrip("+").split("=", 1)
        parsed[key.strip()] = value.strip()
    return parsed


def finite(value: Any) -> bool:
    """A real, finite number (``True``/``False`` are not numbers here, nor an int too large for a float)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def number(value: Any) -> float | None:
    """A finite float from a number or a numeric string, else ``None``."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return float(value) if finite(value) else None


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of ``values`` (ints stay ints; numeric strings become floats; NaN, inf, text go)."""
    kept = {str(k): v if finite(v) else number(v) for k, v in values.items()}
    return {k: v for k, v in kept.items() if v is not None}


def integer(value: Any) -> int | None:
    """An int from a number or a numeric string; ``None`` for missing or unparsable values."""
    if isinstance(value, bool):
        return None
    try:
        return int(float(value)) if value is not None and value != "" else None
    except (TypeError, ValueError, OverflowError):
        return None
