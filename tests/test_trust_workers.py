"""A killed worker loses nothing: a parallel sweep survives ``kill -9`` of one job's process, records why,
finishes the other jobs and its summary; ``sweep.resume=true`` finds it and re-runs the killed job clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.records.run_record import RunRecord
from tests.conftest import cli_env

TINY = ["trainer.num_sanity_val_steps=0", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
# Job 0 trains long enough to be killed; job 1, beside it, still trains when it is (loky kills it too);
# job 2 is short.
SWEEP = ["-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "trainer.max_epochs=100,40,1", *TINY]


def _experiments(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_job_when_training(job_dir: Path, process: subprocess.Popen[str], timeout: float = 240) -> int:
    """SIGKILL the worker running the job once it has trained an epoch (its pid: the run dir's lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        record = RunRecord.read(job_dir)
        if record.status == "running" and len(record.history) >= 2:
            pid = int((job_dir / ".run.lock").read_text())
            assert pid != process.pid
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.2)
    raise AssertionError("job 0 never started training")


def _records(sweep: Path) -> dict[int, RunRecord]:
    return {int(p.parent.name): RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(sweep)}


@pytest.mark.slow
def test_a_killed_worker_fails_its_own_job_and_the_sweep_goes_on_then_resumes(tmp_path):
    sweep_root = tmp_path / "outputs" / "multirun"
    first = _experiments(*SWEEP, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list(sweep_root.glob("*/*/0")) and time.monotonic() < deadline:
        time.sleep(0.2)
    (job0,) = sweep_root.glob("*/*/0")
    sweep = job0.parent
    _kill_job_when_training(job0, first)
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 1, output[-4000:]
    assert "TerminatedWorkerError" not in output and "Traceback" not in output, output[-4000:]
    records = _records(sweep)
    assert records[0].status == "failed", output[-4000:]
    assert "killed by signal 9" in (records[0].error or "") and "OOM killer" in records[0].error
    assert records[1].status == "ok" and records[2].status == "ok", output[-4000:]
    assert (sweep / "sweep_summary.md").is_file() or list(sweep.glob("sweep_summary*"))
    assert "killed by signal 9" in output
    # job 1 was killed beside it by loky, not at fault: it ran again (its lost attempt's record kept)
    assert "Job 1 was lost with a worker that another job's death took down; it runs again" in output
    assert json.loads((sweep / "1" / "results.attempt-1.json").read_text())["status"] == "running"

    second = _experiments(*SWEEP, "sweep.resume=true", cwd=tmp_path)
    # The killed job runs again from scratch; kill it again once it trains, then resume once more to the end.
    output2, _ = second.communicate(timeout=400)
    assert f"Resuming sweep {sweep.relative_to(tmp_path)}" in output2, output2[-4000:]
    assert second.returncode == 0, output2[-4000:]
    records = _records(sweep)
    assert all(r.status == "ok" for r in records.values())
    assert "Skipping finished job" in output2 and output2.count("Skipping finished job") == 2
    checkpoints = sorted(p.name for p in (job0 / "checkpoints").glob("*.ckpt"))
    assert checkpoints == ["best.ckpt"], checkpoints  # no best-v1 beside a stale one; last.ckpt deleted (ok)
    assert list((job0 / "checkpoints.attempt-1").glob("*.ckpt"))  # the killed attempt's, kept aside
    assert len(records[0].history) == 100


def test_sweep_resume_true_finds_a_sweep_started_with_a_launcher_override(tmp_path):
    from omegaconf import OmegaConf

    from experiments.sweeps.sweep_resume import resume_argument

    saved = tmp_path / "2026-01-01" / "00-00-00"
    saved.mkdir(parents=True)
    OmegaConf.save(
        OmegaConf.create(
            {"hydra": {"overrides": {"task": ["seed=0,1"], "hydra": ["hydra/launcher=parallel"]}}}
        ),
        saved / "multirun.yaml",
    )
    argv = ["-m", "hydra/launcher=parallel", "seed=0,1", "sweep.resume=true"]
    assert resume_argument(argv, root=tmp_path)[-1] == f"hydra.sweep.dir={saved}"


def test_killed_by_names_the_signal_and_hints_at_memory():
    from hydra_plugins.experiments_launcher.parallel_launcher import killed_by

    assert killed_by(-9).startswith("killed by signal 9 (SIGKILL; possibly the OOM killer")
    assert "dmesg" in killed_by(-9)
    assert killed_by(-15).startswith("killed by signal 15 (SIGTERM")


def test_a_run_started_from_scratch_sets_an_earlier_attempts_checkpoints_aside(tmp_path):
    from experiments.training.checkpoints import set_aside_checkpoints

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"stale")
    assert set_aside_checkpoints(tmp_path) == tmp_path / "checkpoints.attempt-1"
    assert not (tmp_path / "checkpoints").exists()
    assert set_aside_checkpoints(tmp_path) is None


@pytest.mark.slow
def test_the_epoch_resumed_mid_way_is_timed_from_the_resume_not_from_the_machines_boot(tmp_path):
    from tests.conftest import run_cli, start_cli

    run_dir, log = tmp_path / "cut", tmp_path / "cut.log"
    args = [
        "data.batch_size=4",
        "trainer.max_epochs=2",
        "trainer.num_sanity_val_steps=0",
        "+trainer.limit_val_batches=2",
    ]
    process = start_cli(*args, f"hydra.run.dir={run_dir}", cwd=tmp_path, log=log)
    deadline = time.monotonic() + 240
    while "epoch 1/2" not in log.read_text():  # the second epoch has begun: stop it mid-way
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM

    started = time.monotonic()
    resumed = run_cli(f"resume={run_dir}", cwd=tmp_path)
    wall = time.monotonic() - started
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = RunRecord.read(run_dir)
    assert record.status == "ok" and len(record.history) == 2
    second = record.history[1]["train_seconds"]
    assert 0 < second < wall, (second, wall)  # before: the uptime of the machine (e.g. 1,134 s)
    assert record.throughput["train_seconds"] < wall + record.history[0]["train_seconds"]
    assert "(0.0 s" not in resumed.stdout and not any(
        float(line.rsplit("(", 1)[1].split()[0]) > wall
        for line in resumed.stdout.splitlines()
        if line.startswith("epoch 2/2")
    )


def test_an_epoch_whose_start_hook_was_skipped_is_timed_from_the_start_of_training():
    """Lightning skips on_train_epoch_start for an epoch resumed mid-way; History must not use t=0."""
    from types import SimpleNamespace

    from experiments.training.callbacks import History

    trainer = SimpleNamespace(callback_metrics={}, current_epoch=1, optimizers=[], is_global_zero=True)
    history = History()
    history.on_train_start(trainer, None)
    time.sleep(0.05)
    history.on_train_epoch_end(trainer, None)
    assert 0.05 <= history.epochs[0]["train_seconds"] < 5


def test_the_parallel_launcher_refuses_joblib_keys_it_would_ignore(tmp_path):
    """Jobs go to loky one by one, so joblib.Parallel's settings would change nothing: refused up front."""
    from tests.conftest import run_cli

    refused = run_cli(
        "-m",
        "seed=0,1",
        "hydra/launcher=parallel",
        "+hydra.launcher.timeout=5",
        "sweep.dry_run=true",
        cwd=tmp_path,
    )
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "Config error: hydra.launcher.timeout: hydra/launcher=parallel takes n_jobs and jobs_per_device only "
        "(its jobs go to loky one by one, so joblib's other settings would change nothing)"
    ]
    listed = run_cli(
        "-m",
        "seed=0,1",
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=2",
        "sweep.dry_run=true",
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
