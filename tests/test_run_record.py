"""RunRecord, the typed record of a job: written by RecordWriter, read back whatever is on disk, old records too."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from experiments.records.atomic import write_atomic
from experiments.records.record_writer import RecordWriter
from experiments.records.run_record import SCHEMA_VERSION, RunRecord, number
from experiments.records.runs_csv import records_from_runs_csv

DOCS = Path(__file__).resolve().parents[1] / "docs"
RUNS_CSVS = sorted([*DOCS.glob("study/*/runs.csv"), *DOCS.glob("results/*/runs.csv")])
PERSISTED = [f.name for f in fields(RunRecord) if f.metadata.get("persist", True) and f.name != "extra"]

# A value for every persisted field, of the type a run writes.
EVERY_FIELD = {
    "status": "ok",
    "error": None,
    "traceback": ["Traceback (most recent call last):", "ValueError: x"],
    "run_dir": ".",
    "name": "pooling=avg,seed=1",
    "overrides": ["pooling=avg", "seed=1"],
    "group": "pooling-sweep",
    "swept": {"pooling": "avg"},
    "choices": {"pooling": "avg", "model": "lenet5"},
    "model": "lenet5",
    "data": "digits",
    "seed": 1,
    "resumed_from": "checkpoints/interrupted.ckpt",
    "started_at": "2026-01-02T03:04:05+00:00",
    "finished_at": "2026-01-02T03:05:05+00:00",
    "versions": {"python": "3.12.0", "torch": "2.5.0"},
    "wandb": {"run_id": "abc", "mode": "offline"},
    "wandb_sync": "wandb sync wandb/offline-run-1",
    "params": {"total": 61_706, "trainable": 61_706},
    "flops": 833_040,
    "summary": {"totals": {"params": 61_706}},
    "device": {"world_size": 1, "assigned": "cpu"},
    "metrics": {"test/acc": 0.98, "val/acc": 0.97, "epoch": 2},
    "best_epoch": 2,
    "epochs": 2,
    "best_checkpoint": "checkpoints/best.ckpt",
    "history": [{"epoch": 1, "val/acc": 0.9}, {"epoch": 2, "val/acc": 0.97}],
    "epoch_numbering": "1-based",
    "throughput": {"train_images_per_s": 4000.0, "train_seconds": 1.5},
    "fit_time_s": 3.5,
    "wall_time_s": 4.25,
    "data_info": {"classes": ["0", "1"], "sizes": {"train": 10, "val": 2, "test": 2}},
    "confusion_matrix": [[1.0, 0.0], [0.0, 1.0]],
    "plots": ["plots/curves.png"],
    "identical_to": "../0",
    "note": "the same experiment as job 0",
    "study_stage": "best",
    "tuned_keys": ["optimizer.lr"],
    "stopping": {"monitor": "val/acc", "mode": "max", "patience": None, "min_delta": None, "max_epochs": 2},
    "stopped_by": "budget",
    "still_improving": False,
    "test_predictions": "test_predictions.npz",
    "limited_evaluation": {"test": {"batches": 1, "of_batches": 2, "images": 1, "classes_seen": 1, "classes": 2}},
    "evaluated": {"checkpoint": "../run/checkpoints/best.ckpt", "run": "../run", "trained_on": "digits"},
    "probes": {"file": "probes.json", "ran": ["shift"], "images": 360, "train_images": None, "limited": False, "seconds": 0.1},
    "scheduler_state": "CANCELLED",
    "schema_version": SCHEMA_VERSION,
}


def test_every_persisted_field_is_in_the_sample():
    assert sorted(EVERY_FIELD) == sorted(PERSISTED)


def write_document(run_dir: Path, document: object) -> None:
    """A record file as an earlier version (or another program) left it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(RunRecord.file(run_dir), json.dumps(document))


def test_what_the_writer_writes_reads_back_field_by_field(tmp_path):
    writer = RecordWriter(tmp_path)
    writer.update(**{k: v for k, v in EVERY_FIELD.items() if k != "schema_version"})
    record = RunRecord.read(tmp_path)
    assert {name: getattr(record, name) for name in PERSISTED} == EVERY_FIELD
    assert record.extra == {} and record.path == str(tmp_path) and record.source == RunRecord.file(".").name
    assert record.ok and record.ended and record.params_total == 61_706 and record.classes == ["0", "1"]
    assert record.images_per_s == 4000.0 and record.train_seconds == 1.5
    assert record.override_values == {"pooling": "avg", "seed": "1"}
    assert RunRecord.from_json(record.to_json()) == RunRecord.from_json(json.loads(writer.path.read_text()))


def test_the_writer_writes_each_update_and_keeps_the_earlier_attempt(tmp_path):
    first = RecordWriter(tmp_path)
    first.update(name="run")
    assert RunRecord.read(tmp_path).status == "running"
    first.update(status="interrupted", error="stopped by SIGTERM")
    again = RecordWriter(tmp_path)  # resume=: the same run dir
    assert RunRecord.read(tmp_path).status == "interrupted"  # kept until the new record replaces it
    again.update(metrics={"test/acc": 0.5})
    assert RunRecord.read(tmp_path).status == "running"
    kept = RunRecord.file(tmp_path).with_name(f"{RunRecord.file(tmp_path).stem}.attempt-1.json")
    earlier = RunRecord.from_json(json.loads(kept.read_text()))
    assert earlier.status == "interrupted" and earlier.name == "run"


def test_a_record_written_before_schema_version_loads_as_version_1_with_every_field(tmp_path):
    document = {k: v for k, v in EVERY_FIELD.items() if k != "schema_version"}
    write_document(tmp_path, document)
    record = RunRecord.read(tmp_path)
    assert record.schema_version == 1 and record.extra == {}
    assert {name: getattr(record, name) for name in PERSISTED} == EVERY_FIELD | {"schema_version": 1}


def test_an_early_record_with_a_bare_parameter_count_and_missing_fields_loads(tmp_path):
    write_document(tmp_path, {"status": "ok", "params": 61706, "metrics": {"test/acc": "0.5", "x": "nan"}})
    record = RunRecord.read(tmp_path)
    assert record.params == {"total": 61_706, "trainable": 61_706} and record.params_total == 61_706
    assert record.metrics == {"test/acc": 0.5} and record.history == [] and record.seed is None
    assert record.metric("test/acc") == 0.5 and record.metric("val/acc_best") is None


def test_unknown_keys_survive_a_rewrite_through_extra(tmp_path):
    later = {"calibration": {"ece": 0.03}, "tags": ["a", "b"]}
    write_document(tmp_path / "a", RunRecord(status="ok", extra=later).to_json() | {"schema_version": 3})
    record = RunRecord.read(tmp_path / "a")
    assert record.extra == later and record.schema_version == 3
    RecordWriter(tmp_path / "b").update(status=record.status, metrics={"test/acc": 0.5}, extra=record.extra)
    again = RunRecord.read(tmp_path / "b")
    assert again.extra == later and again.metrics == {"test/acc": 0.5}
    assert json.loads(RunRecord.file(tmp_path / "b").read_text())["calibration"] == {"ece": 0.03}  # top level


def test_a_missing_record_says_so(tmp_path):
    record = RunRecord.read(tmp_path / "never-ran")
    assert record.status == "missing" and "did not start" in record.error
    assert not record.ok and not record.ended and not RunRecord.exists(tmp_path / "never-ran")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"status": "ok", "metrics": {"test/acc": 0.9', "Expecting"),  # truncated
        ("[1, 2]", "expected a JSON object, found list"),
        ("null", "expected a JSON object, found null"),
        ('{"metrics": {}}', "no `status` field"),
        ('{"status": "ok", "metrics": [1]}', "`metrics` is a list, expected dict"),
        ('{"status": "ok", "choices": {"a": 1}, "history": "x"}', "`history` is a str, expected list"),
    ],
)
def test_a_record_that_is_not_ours_is_unreadable_with_the_reason(tmp_path, content, reason):
    RunRecord.file(tmp_path).write_text(content)
    record = RunRecord.read(tmp_path)
    assert record.status == "unreadable" and reason in record.error and str(tmp_path) in record.error
    assert not record.ok and RunRecord.exists(tmp_path)


def test_bytes_that_are_not_text_are_unreadable(tmp_path):
    RunRecord.file(tmp_path).write_bytes(b"\xff\xfe\x00{")
    assert RunRecord.read(tmp_path).status == "unreadable"


def test_the_writer_refuses_a_field_the_record_lacks(tmp_path):
    writer = RecordWriter(tmp_path)
    with pytest.raises(TypeError, match="RunRecord has no field accuracy, path"):
        writer.update(status="ok", accuracy=0.9, path="elsewhere")
    assert not RunRecord.exists(tmp_path)  # nothing written


def test_the_records_of_a_sweep_are_its_numbered_job_dirs_in_order(tmp_path):
    for job in (10, 2, 0):
        RecordWriter(tmp_path / str(job)).update(status="ok")
    RecordWriter(tmp_path / "notes").update(status="ok")
    assert [p.parent.name for p in RunRecord.files_of_sweep(tmp_path)] == ["0", "2", "10"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from([*PERSISTED, "extra", "path", "source", "config"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=JSON
    | st.dictionaries(FIELD_NAMES, JSON, max_size=8).map(lambda d: {"status": "ok", **d})
    | st.dictionaries(FIELD_NAMES | st.text(max_size=8), JSON, max_size=8)
)
@example({"status": "ok", "params": float("nan")})  # a count that is not one
@example({"status": "ok", "params": float("inf"), "seed": float("-inf")})
@example(
    {"status": "ok", "metrics": {"test/acc": 10**400}, "history": [{"x": -(10**400)}]}
)  # too large for a float
@example({"status": "ok", "schema_version": [2], "choices": {"a": None}, "extra": {"x": 1}})
def test_no_json_value_makes_reading_a_record_raise(tmp_path, document):
    RunRecord.file(tmp_path).write_text(json.dumps(document))
    record = RunRecord.read(tmp_path)
    assert isinstance(record.status, str) and record.path == str(tmp_path)
    if record.status != "unreadable":
        json.dumps(record.to_json())  # what was read can be written back
        assert all(math.isfinite(v) for v in record.metrics.values())
        best = record.metric("val/acc_best")
        assert best is None or math.isfinite(best)
        assert record.params_total is None or isinstance(record.params_total, int)
        assert record.images_per_s is None or math.isfinite(record.images_per_s)


@pytest.mark.parametrize("path", RUNS_CSVS, ids=lambda p: str(p.relative_to(DOCS)))
def test_the_runs_of_earlier_reports_in_docs_load_with_their_metrics(path):
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    records = records_from_runs_csv(path)
    assert rows and len(records) == len(rows)
    for row, record in zip(rows, records, strict=True):
        assert record.source == "runs.csv" and record.schema_version == 1
        assert record.status == row["status"] and record.name == row["name"] and record.path == row["path"]
        metrics = {k: float(v) for k, v in row.items() if "/" in k and v not in ("", None)}
        assert record.metrics == metrics and metrics
        for key in ("seed", "epochs", "best_epoch", "params", "flops"):
            if row.get(key):
                value = record.params_total if key == "params" else getattr(record, key)
                assert value == int(float(row[key])), key
        for key in ("pooling", "padding", "activation"):  # the report's grouping keys, kept as overrides
            if row.get(key):
                assert record.override_values[key] == row[key]
        assert record.wall_time_s == number(row.get("wall_time_s"))
        assert record.images_per_s == number(row.get("train_images_per_s"))
        assert RunRecord.from_json(record.to_json()).metrics == record.metrics  # it writes back as it reads
