"""Killed sweeps resumed: one ok record per job, no duplicate rows, no rewritten files, no truncated file."""

from __future__ import annotations

import csv
import json
import random
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from experiments.records.run_record import RunRecord

from .conftest import run_cli, start_cli

SWEEP = ["-m", "seed=0,1", "trainer.num_sanity_val_steps=0"]


def wait_for(condition, process: subprocess.Popen, log: Path, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)


def progress_lines(stdout: str) -> list[str]:
    """The ``[k/N] start`` and ``[k/N done]`` lines."""
    return [line for line in stdout.splitlines() if re.match(r"\[\d+/\d+[] ]", line)]


def sweep_dir_of(cwd: Path) -> Path:
    (sweep,) = (cwd / "outputs" / "multirun").glob("*/*")
    return sweep


def val_epochs(job_dir: Path) -> list[str]:
    with (job_dir / "metrics.csv").open(newline="") as handle:
        return [row["epoch"] for row in csv.DictReader(handle) if row.get("val/acc")]


def assert_whole(sweep: Path, jobs: int, epochs: int) -> None:
    """Each job ok once, each epoch once in its metrics.csv; every record, YAML file and checkpoint whole."""
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit()) == [
        str(i) for i in range(jobs)
    ]
    for path in sweep.rglob("*.json"):
        json.loads(path.read_text())
    for path in sweep.rglob("*.yaml"):
        OmegaConf.load(path)
    for path in sweep.rglob("*.ckpt"):
        assert torch.load(path, weights_only=True)["state_dict"]
    for job in range(jobs):
        assert RunRecord.read(sweep / str(job)).status == "ok"
        assert val_epochs(sweep / str(job)) == [str(e) for e in range(epochs)]
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert summary["counts"] == {"ok": jobs} and [r["job"] for r in summary["jobs"]] == list(range(jobs))


@pytest.mark.slow
def test_a_sweep_killed_in_its_second_job_resumes_it_alone_without_traces(tmp_path):
    args = [*SWEEP, "trainer.max_epochs=4"]
    log = tmp_path / "killed.log"
    sweep_process = start_cli(*args, cwd=tmp_path, log=log)
    wait_for(lambda: "epoch 1/4" in log.read_text().partition("[2/2] start")[2], sweep_process, log)
    sweep_process.kill()  # SIGKILL in the second job's second epoch
    sweep_process.wait(timeout=60)
    sweep = sweep_dir_of(tmp_path)
    finished = RunRecord.file(sweep / "0").read_bytes()
    hydra_files = {p: p.read_bytes() for p in (sweep / "0" / ".hydra").iterdir()}

    resumed = run_cli(*args, "sweep.resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    lines = [line.split("  ")[0] for line in progress_lines(resumed.stdout)]
    assert [line.split(" ", 2)[:2] for line in lines] == [
        ["[1/2]", "start"],
        ["[1/2", "done]"],
        ["[2/2]", "start"],
        ["[2/2", "done]"],
    ]  # the skipped job is the first one done, not the second
    assert all(line.split()[2] == "ok" for line in lines if "done]" in line)
    assert RunRecord.file(sweep / "0").read_bytes() == finished  # skipped: not rewritten ...
    assert {
        p: p.read_bytes() for p in (sweep / "0" / ".hydra").iterdir()
    } == hydra_files  # ... nor its .hydra
    assert (
        RunRecord.from_json(json.loads((sweep / "1" / "results.attempt-1.json").read_text())).status
        == "running"
    )
    assert_whole(sweep, jobs=2, epochs=4)  # the killed attempt's rows of job 1 are gone


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_a_sweep_killed_at_a_random_point_resumes_to_one_ok_record_per_job(tmp_path, trial):
    # The jobs import torch and train for ~6 s after this point: one seeded kill time in each third of 8 s.
    delay = (trial + random.Random(2026 + trial).random()) * 8 / 3
    args = [*SWEEP, "trainer.max_epochs=2"]
    log = tmp_path / "killed.log"
    sweep_process = start_cli(*args, cwd=tmp_path, log=log)

    def sweep_saved() -> bool:
        saved = list((tmp_path / "outputs" / "multirun").glob("*/*/multirun.yaml"))
        return bool(saved) and "hydra" in OmegaConf.load(saved[0])  # written whole by Hydra's sweeper

    wait_for(sweep_saved, sweep_process, log)
    time.sleep(delay)
    sweep_process.kill()
    sweep_process.wait(timeout=60)

    resumed = run_cli(*args, "sweep.resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert_whole(sweep_dir_of(tmp_path), jobs=2, epochs=2)


@pytest.mark.slow
def test_the_submitit_launcher_prints_the_progress_lines(submitit_sweep):
    result, _ = submitit_sweep  # its records: test_sweeps
    lines = progress_lines(result.stdout)
    assert any(line.startswith("[1/2] start ") for line in lines)
    assert any(line.startswith("[2/2] start ") for line in lines)
    assert [line.split("]")[0] for line in lines if "done]" in line] == ["[1/2 done", "[2/2 done"]
    assert all(" ok " in line for line in lines if "done]" in line)
