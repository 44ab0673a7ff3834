"""Compare survives bad files: unreadable ``results.json`` files are listed with their path and the rest
of the comparison goes on; a read-only sweep dir gets a message and a way out (``-o DIR``), no traceback."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.comparison import compare, main
from experiments.records.run_record import RunRecord

from .test_compare import write_run

BAD_FILES = {
    "null": "null",
    "a list": "[1, 2, 3]",
    "truncated": '{"status": "ok", "metrics": {"test/acc": 0.9',
    "another schema": json.dumps({"accuracy": 0.93, "epochs": 3}),
    "a field of another shape": json.dumps({"status": "ok", "metrics": [0.9, 0.8]}),
    "not text": b"\xff\xfe\x00binary",
}


def six_job_sweep(root: Path) -> Path:
    """Six good jobs (pooling x 3 seeds) and one job dir per kind of bad results.json."""
    num = 0
    for pooling, accs in (("max", (0.95, 0.96, 0.97)), ("avg", (0.91, 0.92, 0.90))):
        for seed, acc in enumerate(accs):
            write_run(root, num, {"pooling": pooling, "seed": seed}, acc)
            num += 1
    for content in BAD_FILES.values():
        run_dir = write_run(root, num, {"pooling": "max", "seed": 10 + num}, 0.5)
        target = RunRecord.file(run_dir)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        num += 1
    return root


def test_bad_results_files_are_listed_as_unreadable_and_the_rest_goes_on(tmp_path, capsys, monkeypatch):
    # Piped output is 160 columns wide unless COLUMNS says otherwise: one left in the process's environment
    # (under xdist, by an earlier test in the worker) wrapped the long paths in the table.
    monkeypatch.delenv("COLUMNS", raising=False)
    sweep = six_job_sweep(tmp_path / "sweep")
    assert main([str(sweep), "-o", str(tmp_path / "out"), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    report = compare([sweep], tmp_path / "out", plots=False)
    unreadable = [r for r in report.runs if r.status == "unreadable"]
    assert len(unreadable) == len(BAD_FILES) and len(report.runs) == 6 + len(BAD_FILES)
    for run in unreadable:
        assert str(RunRecord.file(run.path)) in (run.error or ""), run.error
        assert run.path in printed
    errors = " ".join(r.error or "" for r in unreadable)
    assert "found null" in errors and "found list" in errors and "no `status` field" in errors
    assert "`metrics` is a list" in errors
    # the six good jobs are compared as if the bad ones were not there
    by_label = {g.label: g for g in report.groups}
    assert by_label["pooling=max"].stats["test/acc"].n == 3
    assert by_label["pooling=max"].stats["test/acc"].mean == pytest.approx(0.96)
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"{len(BAD_FILES)} of {6 + len(BAD_FILES)} runs did not finish or cannot be read" in md
    rows = list(csv.DictReader((tmp_path / "out" / "runs.csv").open()))
    assert [r["status"] for r in rows].count("unreadable") == len(BAD_FILES)


def test_an_unreadable_run_without_settings_joins_no_group(tmp_path):
    """No ``.hydra/`` and no readable results: nothing says which group it belongs to."""
    for num, (pooling, acc) in enumerate((("max", 0.95), ("avg", 0.9))):
        write_run(tmp_path / "sweep", num, {"pooling": pooling, "seed": 0}, acc)
    lost = tmp_path / "sweep" / "2"
    lost.mkdir()
    RunRecord.file(lost).write_text("null")
    report = compare([tmp_path / "sweep"], tmp_path / "out", plots=False)
    assert [g.label for g in report.groups] == ["pooling=max", "pooling=avg"]
    assert [r.path for r in report.failed] == [str(lost)]


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for real: a read-only bind mount as root (where chmod stops nothing), else chmod."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
        return
    bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"running as root without a read-only mount (mount --bind: {bind.stderr.strip()})")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(path)], capture_output=True, text=True
        )
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_sweep_dir_says_so_and_suggests_out(tmp_path, capsys):
    sweep = six_job_sweep(tmp_path / "sweep")
    with read_only(sweep):
        with pytest.raises(OSError):
            (sweep / "probe").write_text("x")  # the situation is real
        assert main([str(sweep), "--no-plots", "-q"]) == 2
        err = capsys.readouterr().err
        assert f"cannot write the report to {sweep / 'compare'}" in err
        assert "-o DIR" in err and "--out" in err and "Traceback" not in err
        assert main([str(sweep), "-q", "-o", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.html").is_file()
