"""The ``runs.csv`` of earlier compare reports (``docs/study/*``, ``docs/results/*``) read back as RunRecords.

Those reports kept one row per run, not the runs' ``results.json``: this is how those records still load.
"""

from __future__ import annotations

import csv
from pathlib import Path

from experiments.records.run_record import RunRecord, integer, number

#: runs.csv columns that are not a grouping key or a metric.
LEADING_COLUMNS = ("name", "group", "status", "error", "seed")  # then the grouping keys and metrics
TRAILING_COLUMNS = (
    "best_epoch",
    "epochs",
    "params",
    "flops",
    "train_images_per_s",
    "wall_time_s",
    "source",
    "path",
    "wandb_url",
)
_CSV_FIELDS = {*LEADING_COLUMNS, *TRAILING_COLUMNS}


def records_from_runs_csv(path: str | Path) -> list[RunRecord]:
    """The runs of a compare report's ``runs.csv`` (docs/study/*, docs/results/*) as RunRecords.

    Columns with a ``/`` are metrics; the others beside the known ones are the report's grouping keys,
    kept as overrides. ``source`` is ``runs.csv``; ``path`` the run dir the report read.
    """
    records = []
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            keys = {k: v for k, v in row.items() if k not in _CSV_FIELDS and "/" not in k and v != ""}
            seed = integer(row.get("seed"))
            overrides = [f"{k}={v}" for k, v in keys.items()] + ([f"seed={seed}"] if seed is not None else [])
            params = integer(row.get("params"))
            records.append(
                RunRecord(
                    status=row.get("status") or "unknown",
                    error=row.get("error") or None,
                    name=row.get("name") or "",
                    overrides=overrides,
                    seed=seed,
                    metrics={
                        k: v for k, v in ((k, number(v)) for k, v in row.items() if "/" in k) if v is not None
                    },
                    best_epoch=integer(row.get("best_epoch")),
                    epochs=integer(row.get("epochs")),
                    params={"total": params, "trainable": params} if params is not None else None,
                    flops=integer(row.get("flops")),
                    throughput={"train_images_per_s": number(row.get("train_images_per_s"))},
                    wall_time_s=number(row.get("wall_time_s")),
                    wandb={"url": row["wandb_url"]} if row.get("wandb_url") else None,
                    schema_version=1,
                    path=row.get("path") or "",
                    source="runs.csv",
                )
            )
    return records
