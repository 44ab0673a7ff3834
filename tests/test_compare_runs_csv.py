"""``experiments compare <report>/runs.csv`` (or the report dir): an earlier report's runs analysed again.

The sweeps behind docs/study/* are not kept, only their reports' runs.csv; these tests read that file as
a source, check that a report written from it writes every row back unchanged, and that the copies are
found from the accuracies alone (72 rows of docs/study/pooling_mnist, 60 distinct runs).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.comparison import compare
from experiments.comparison.command_line import main
from experiments.comparison.sources.collect import collect
from experiments.comparison.sources.report_csv import is_report_csv, read_report_csv, report_csv_in
from experiments.records.run_record import RESULTS_FILE, RunRecord

STUDIES = Path(__file__).resolve().parents[1] / "docs" / "study"
POOLING = STUDIES / "pooling_mnist" / "runs.csv"


def test_a_report_csv_reads_as_its_rows() -> None:
    runs = read_report_csv(POOLING)
    assert len(runs) == 72 and all(isinstance(r, RunRecord) and r.ok for r in runs)
    first = runs[0]
    assert first.override_values["pooling"] == "max" and first.seed == 0
    assert first.metric("test/acc") == pytest.approx(0.9886000156402588, abs=0)
    assert first.source == RESULTS_FILE  # the row's own source column, kept for the row written back
    assert (
        first.path == "outputs/study/pooling_mnist/0" and first.epochs == 3 and first.params_total == 61_706
    )
    assert first.history == [] and first.config == {}  # not in the row: not invented


def test_collect_reads_the_file_or_the_report_dir(tmp_path: Path) -> None:
    assert [r.name for r in collect([POOLING])] == [r.name for r in read_report_csv(POOLING)]
    assert len(collect([POOLING.parent])) == 72
    assert len(collect([POOLING, POOLING.parent])) == 72  # the same file once
    assert report_csv_in(POOLING.parent) == POOLING


def test_other_csv_files_are_not_reports(tmp_path: Path) -> None:
    other = tmp_path / "metrics.csv"
    other.write_text("epoch,val/acc\n1,0.5\n")
    assert not is_report_csv(other) and report_csv_in(tmp_path) is None
    assert not is_report_csv(tmp_path / "missing.csv")
    with pytest.raises(FileNotFoundError, match="no runs found"):
        compare([other], tmp_path / "out", plots=False)


def test_a_sweeps_own_run_dirs_win_over_a_report_written_into_it(tmp_path: Path) -> None:
    """A sweep dir holding its runs and a runs.csv at the top is read from its runs, not the csv."""
    from tests.test_compare import write_run

    sweep = tmp_path / "sweep"
    for seed in range(2):
        write_run(sweep, seed, {"pooling": "max", "seed": seed}, 0.98 + seed / 1000)
    shutil.copy(POOLING, sweep / "runs.csv")
    runs = collect([sweep])
    assert len(runs) == 2 and all(r.source == RESULTS_FILE and r.config for r in runs)


def test_a_report_written_again_keeps_every_row(tmp_path: Path) -> None:
    out = tmp_path / "again"
    report = compare([POOLING], out, plots=False)
    assert (out / "runs.csv").read_bytes() == POOLING.read_bytes()
    effects = report.effects
    assert effects is not None and (effects.runs, effects.cells) == (60, 20)  # 12 copies counted once
    assert sorted(c.how for c in effects.copies) == ["bit-identical"] * 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["answer"] and summary["command"].startswith("experiments compare ")


def test_the_command_line_writes_over_its_own_report_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_dir = tmp_path / "pooling_mnist"
    report_dir.mkdir()
    shutil.copy(POOLING, report_dir / "runs.csv")
    (report_dir / "notes.txt").write_text("a person's file\n")
    assert main([str(report_dir), "-o", str(report_dir), "--no-plots", "-q"]) == 2  # not compare's dir
    assert "--overwrite" in capsys.readouterr().err
    assert main([str(report_dir / "runs.csv"), "-o", str(report_dir), "--no-plots", "-q", "--overwrite"]) == 0
    assert (report_dir / "runs.csv").read_bytes() == POOLING.read_bytes()
    assert main([str(report_dir), "-o", str(report_dir), "--no-plots", "-q"]) == 0  # its own report now
    assert (report_dir / "runs.csv").read_bytes() == POOLING.read_bytes()
