"""An earlier compare report's ``runs.csv`` as a source: ``experiments compare docs/study/pooling_mnist/runs.csv``
(or the report dir itself) analyses that report's runs again with today's compare.

The rows become RunRecords through :func:`~experiments.records.runs_csv.records_from_runs_csv`. What a row
does not hold is not invented: no per-epoch history (so no validation curves and no ranking by epoch), no
saved config (copies are found from the accuracies alone, by whole bit-identical cells:
:mod:`~experiments.comparison.analysis.distinct`), no per-image test predictions (test-set intervals from
the accuracy and the number of test images only). Each record keeps the row's own ``source`` column (where
the first report read the run, e.g. ``results.json``), so that a report written again from its own
``runs.csv`` writes every row back unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from experiments.records.run_record import RunRecord
from experiments.records.runs_csv import LEADING_COLUMNS, records_from_runs_csv

RUNS_CSV = "runs.csv"


def is_report_csv(path: Path) -> bool:
    """A file whose header starts with the leading columns of compare's ``runs.csv`` (name, group, ...)."""
    if not path.is_file() or path.suffix != ".csv":
        return False
    try:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError):
        return False
    return tuple(header[: len(LEADING_COLUMNS)]) == LEADING_COLUMNS and "path" in header


def report_csv_in(path: Path) -> Path | None:
    """The ``runs.csv`` of a report dir (or ``path`` itself where it is one), else None."""
    candidate = path / RUNS_CSV if path.is_dir() else path
    return candidate if is_report_csv(candidate) else None


def read_report_csv(path: Path) -> list[RunRecord]:
    """The runs of a report's ``runs.csv``, each with the ``source`` its row names (``runs.csv`` where blank)."""
    with path.open(newline="") as handle:
        sources = [row.get("source") or "" for row in csv.DictReader(handle)]
    records = records_from_runs_csv(path)
    return [
        dataclasses.replace(record, source=source) if source else record
        for record, source in zip(records, sources, strict=True)
    ]
