"""Records on a full disk (a real 2 MB tmpfs): every file is replaced whole or not at all, the job says where."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from experiments.records.atomic import NoSpaceLeft, write_atomic
from experiments.records.metrics_csv import kept_rows
from experiments.records.record_writer import RecordWriter
from experiments.records.run_record import RunRecord
from experiments.sweeps.table import write_summary

from .conftest import NO_SANITY, cli_env, run_cli

# The up-front disk check's test hook (cli/disk.py): these runs start, and their disk fills as they write.
ROOMY = {"EXPERIMENTS_FREE_BYTES": str(10**12)}


def mount_tmpfs(mount: Path, options: str) -> Path:
    """A real tmpfs at ``mount`` (``mount -t tmpfs -o OPTIONS``); skips where this user may not mount."""
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()[:100]}); needs root")
    return mount


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB disk: two LeNet checkpoints fit (773 kB each), a third one in flight does not."""
    disk = mount_tmpfs(tmp_path / "disk", "size=2m")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> None:
    """Take every free block of ``disk``."""
    with (disk / "filler").open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError:
            pass


def no_temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_a_write_that_does_not_fit_leaves_the_earlier_file_and_no_temporary(small_disk):
    target = RunRecord.file(small_disk)  # the file itself: what is on disk after the failed write
    write_atomic(target, '{"status": "ok"}')
    fill(small_disk)
    with pytest.raises(NoSpaceLeft, match=f"no space left on {small_disk} \\(writing results.json\\)"):
        write_atomic(target, json.dumps({"status": "ok", "padding": "x" * 100_000}))
    assert json.loads(target.read_text()) == {"status": "ok"}
    assert not no_temporaries(small_disk)

    results = RecordWriter(small_disk)  # a rerun keeps the earlier record: a second name, no space needed
    with pytest.raises(NoSpaceLeft):
        results.update(status="running", error="x" * 100_000)
    assert json.loads(target.read_text()) == {"status": "ok"}

    (small_disk / "filler").unlink()
    write_summary(
        small_disk,
        [
            {
                "job": 0,
                "overrides": ["seed=1"],
                "status": "ok",
                "test/acc": 0.5,
                "val/acc_best": 0.5,
                "wall_time_s": 1.0,
                "device": "cpu",
                "error": None,
            }
        ],
    )
    fill(small_disk)
    with pytest.raises(NoSpaceLeft):
        write_summary(
            small_disk,
            [
                {
                    "job": i,
                    "overrides": ["x" * 5000],
                    "status": "ok",
                    "test/acc": None,
                    "val/acc_best": None,
                    "wall_time_s": None,
                    "device": None,
                    "error": None,
                }
                for i in range(100)
            ],
        )
    assert json.loads((small_disk / "sweep_summary.json").read_text())["counts"] == {"ok": 1}


def test_rows_an_attempt_redoes_replace_the_earlier_attempts():
    earlier = [
        {"step": "0", "model/params": "61706", "epoch": ""},
        {"step": "0", "lr-Adam": "0.001", "epoch": ""},
        {"step": "19", "val/acc": "0.6", "epoch": "0"},
        {"step": "20", "lr-Adam": "0.001", "epoch": ""},
        {"step": "29", "train/loss_step": "1.0", "epoch": "1"},  # the killed attempt got this far
    ]
    resumed = [  # from last.ckpt (end of epoch 0): the summary again, then epoch 1 again
        {"step": 0, "model/params": 61706.0},
        {"step": 20, "lr-Adam": 0.001},
        {"step": 29, "train/loss_step": 0.9, "epoch": 1},
    ]
    assert kept_rows(earlier, resumed) == [earlier[1], earlier[2]]
    assert kept_rows(earlier, [{"step": 0, "lr-Adam": 0.001}, {"step": 9, "epoch": 0, "x": 1}]) == [
        earlier[0]
    ]


@pytest.mark.slow
def test_a_full_disk_mid_training_fails_the_job_in_one_line_and_keeps_the_last_good_files(
    tmp_path, small_disk
):
    run_dir = small_disk / "run"
    result = run_cli(  # past the up-front disk check (a 2 MB disk is refused there): the disk fills mid-run
        "trainer.max_epochs=3", *NO_SANITY, "checkpoints.keep=all",  # whole best + last: a third does not fit
        f"hydra.run.dir={run_dir}", cwd=tmp_path, env=cli_env(**ROOMY),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"no space left on {run_dir}/checkpoints" in last_line and "Traceback" not in result.stderr
    results = RunRecord.read(run_dir)
    assert results.status == "failed" and "no space left on" in results.error
    for name in ("best.ckpt", "last.ckpt"):  # the epoch-1 checkpoints, whole
        state = torch.load(run_dir / "checkpoints" / name, weights_only=True)
        assert state["epoch"] == 0 and state["state_dict"]
    assert not no_temporaries(small_disk)
    with (run_dir / "metrics.csv").open(newline="") as handle:  # whole rows, each epoch once
        assert [r["epoch"] for r in csv.DictReader(handle) if r.get("val/acc")] == ["0", "1"]


@pytest.mark.slow
def test_resuming_a_finished_run_on_a_full_disk_keeps_its_record(tmp_path, small_disk, one_epoch_run):
    run_dir = small_disk / "run"
    shutil.copytree(one_epoch_run, run_dir)
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".run.lock"}
    fill(small_disk)

    again = run_cli(f"resume={run_dir}", cwd=tmp_path, env=cli_env(**ROOMY))
    assert again.returncode == 2, again.stderr[-3000:]
    assert f"no space left on {run_dir}" in again.stderr.strip().splitlines()[-1]
    assert RunRecord.read(run_dir).status == "ok"  # compare still finds it
    after = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file() and p.name != ".run.lock"}
    assert after == before  # .hydra/, results.json, checkpoints, metrics.csv: all as they were
    assert not no_temporaries(small_disk)
