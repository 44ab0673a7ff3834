"""One process per run dir: a run still training is never taken over; a killed one resumes at once; read-only dirs."""

from __future__ import annotations

import csv
import signal
import subprocess
import time
from pathlib import Path

import pytest

from experiments.records.lock import lock_holder
from experiments.records.run_record import RunRecord
from experiments.training.resume import resolve_resume

from .conftest import NO_SANITY, compose_config, run_cli, start_cli
from .test_records_full_disk import mount_tmpfs

TWO_EPOCHS = ["trainer.max_epochs=2", *NO_SANITY]


@pytest.mark.slow
def test_two_runs_started_in_one_dir_at_the_same_moment_one_runs_and_the_other_is_refused(tmp_path):
    run_dir = tmp_path / "shared-run"
    logs = [tmp_path / f"{i}.log" for i in range(2)]
    processes = [start_cli(*TWO_EPOCHS, f"hydra.run.dir={run_dir}", cwd=tmp_path, log=log) for log in logs]
    codes = [p.wait(timeout=300) for p in processes]
    texts = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 2], texts
    refused = texts[codes.index(2)].strip().splitlines()[-1]
    assert refused.startswith("Config error: hydra.run.dir: ")
    assert "is in use by a running job (PID " in refused or "already holds a run" in refused
    assert RunRecord.read(run_dir).status == "ok"
    assert not list(run_dir.glob("results.attempt-*.json"))  # one record, one attempt
    with (run_dir / "metrics.csv").open(newline="") as handle:
        assert [r["epoch"] for r in csv.DictReader(handle) if r.get("val/acc")] == ["0", "1"]


@pytest.mark.slow
def test_a_run_still_training_is_not_resumed_and_a_killed_one_is_at_once(tmp_path):
    overrides = ["trainer.max_epochs=500", "trainer.num_sanity_val_steps=0"]
    run_dir = tmp_path / "outputs" / "runs" / "training"
    log = tmp_path / "training.log"
    training = start_cli(*overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path, log=log)
    deadline = time.monotonic() + 240
    while not (run_dir / "checkpoints" / "last.ckpt").is_file():  # an unfinished run with a checkpoint
        assert training.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    try:
        assert lock_holder(run_dir) == training.pid
        cfg = compose_config(*overrides, "resume=auto")
        assert resolve_resume("auto", cfg, root=tmp_path / "outputs") is None  # skipped: it is running
        refused = run_cli(f"resume={run_dir}", cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr[-2000:]
        assert f"resume: {run_dir} is in use by a running job (PID {training.pid})" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        training.send_signal(signal.SIGKILL)
        training.wait(timeout=60)
    assert lock_holder(run_dir) is None  # the OS released it with the process
    found = resolve_resume("auto", cfg, root=tmp_path / "outputs")
    assert found is not None and found[0] == run_dir and found[1].name == "last.ckpt"


@pytest.fixture
def read_only_dir(tmp_path: Path):
    disk = mount_tmpfs(tmp_path / "ro", "ro,size=1m")  # read-only even for root
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("where", [".", "run"], ids=["the dir itself", "a dir inside it"])
def test_a_read_only_run_dir_is_one_line_with_exit_code_2(tmp_path, read_only_dir, where):
    run_dir = (read_only_dir / where).resolve() if where == "." else read_only_dir / where
    result = run_cli(*TWO_EPOCHS, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip() == (
        f"Config error: hydra.run.dir: {run_dir} is not writable (Read-only file system); "
        "choose a dir you can write to"
    )
