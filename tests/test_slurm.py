"""``hydra/launcher=slurm`` against a real single-node SLURM cluster (``.ci/local_slurm.sh``: slurmctld, slurmd,
slurmdbd with MariaDB, munge). CI starts it before the suite; here the fixture starts it where it is not
running, and every test skips with the reason where it cannot start (no root, no apt, no SLURM)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.config import ConfigError
from experiments.records.run_record import RunRecord
from experiments.sweeps.slurm_request import SlurmNode, SlurmPartition, SlurmRequest, check_request
from tests.conftest import run_cli, start_cli

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = ROOT / ".ci" / "local_slurm.sh"
# Small jobs: LeNet-5 on the bundled digits; the defaults of hydra/launcher=slurm otherwise (1 CPU, 4 GB).
SLURM = ("-m", "hydra/launcher=slurm", "trainer.accelerator=cpu")


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    ping = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    accounting = subprocess.run(["sacct", "-n", "-X"], capture_output=True, text=True, timeout=30)
    return ping.returncode == 0 and accounting.returncode == 0 and ping.stdout.strip() != ""


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """The local cluster, started by ``.ci/local_slurm.sh`` where it does not answer yet."""
    if _cluster_answers():
        return
    started = subprocess.run(["bash", str(CLUSTER_SCRIPT), "start"], capture_output=True, text=True, timeout=600)
    if started.returncode != 0 or not _cluster_answers():
        pytest.skip(f"no SLURM cluster: .ci/local_slurm.sh start said {(started.stdout + started.stderr)[-400:]!r}")


def _jobs(sweep: Path) -> list[RunRecord]:
    return [RunRecord.read(d) for d in sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))]


def _slurm_job_ids(sweep: Path) -> list[str]:
    return sorted(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir())


def _wait_for_epochs(run_dir: Path, epochs: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = RunRecord.read(run_dir)
        if record.status == "running" and len(record.history) >= epochs:
            return
        time.sleep(0.2)
    raise AssertionError(f"{run_dir} never reached {epochs} epochs: {RunRecord.read(run_dir).status}")


def _squeue_ids(workdir: Path, state: str = "all") -> list[str]:
    """The SLURM ids of the jobs this test submitted (their working dir is its tmp dir: tests run side by side)."""
    shown = subprocess.run(
        ["squeue", "-h", "-t", state, "-o", "%i %Z"], capture_output=True, text=True, timeout=30
    ).stdout.splitlines()
    return [line.split()[0] for line in shown if line.split()[1:] == [str(workdir)]]


def _squeue_id(workdir: Path, sweep_job: int) -> str:
    """The SLURM id (``N_k`` for an array task, ``N`` alone) of this test's running sweep job ``sweep_job``."""
    ids = _squeue_ids(workdir)
    array = [i for i in ids if i.endswith(f"_{sweep_job}")]
    return array[0] if array else ids[0]


@pytest.mark.slow
def test_a_two_job_sweep_ends_ok_on_the_cluster(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_cli(*SLURM, "seed=0,1", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert [r.status for r in _jobs(sweep)] == ["ok", "ok"]
    assert (sweep / "sweep_summary.md").is_file()
    submission = next((sweep / ".submitit").rglob("*_submission.sh")).read_text()
    assert "--gpus-per-node" not in submission or "--gpus-per-node=0" in submission  # a CPU job asks for no GPU
    assert "--cpus-per-task=1" in submission and "--mem=4GB" in submission
    assert "[2/2 done]" in done.stdout


@pytest.mark.slow
def test_scancel_of_one_job_fails_that_job_only_and_resume_reruns_it(slurm_cluster, tmp_path):
    log = tmp_path / "sweep.log"
    sweep_args = (*SLURM, "trainer.max_epochs=60,2")  # job 0 long enough to be cancelled mid-run; job 1 short
    process = start_cli(*sweep_args, cwd=tmp_path, log=log)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("outputs/multirun/*/*/0")) and time.monotonic() < deadline:
            time.sleep(0.2)
        (sweep,) = {p.parent for p in tmp_path.glob("outputs/multirun/*/*/0")}
        _wait_for_epochs(sweep / "0", 2)
        subprocess.run(["scancel", _squeue_id(tmp_path, 0)], check=True, timeout=30)
        assert process.wait(timeout=300) == 1, log.read_text()[-3000:]
    finally:
        process.kill()
    out = log.read_text()
    first, second = _jobs(sweep)
    assert first.status == "failed" and first.scheduler_state == "CANCELLED", first
    assert "sweep.resume=true" in (first.error or "")
    assert second.status == "ok"
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    assert [row["status"] for row in summary["jobs"]] == ["failed", "ok"], summary
    assert "Traceback" not in out and "1 of 2 jobs ok" in out

    # sweep.resume=true finds the SLURM sweep (started with hydra/launcher=slurm) and reruns the cancelled job
    again = run_cli(*sweep_args, "sweep.resume=true", cwd=tmp_path, timeout=500)
    assert f"Resuming sweep {sweep.relative_to(tmp_path)}" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]
    rerun, kept = _jobs(sweep)
    assert kept.finished_at == second.finished_at  # the finished job was skipped
    assert rerun.status == "ok" and not any(o.startswith("sweep.") for o in rerun.overrides), rerun
    assert again.returncode == 0


@pytest.mark.slow
def test_a_scancel_in_a_jobs_first_seconds_is_honoured(slurm_cluster, tmp_path):
    """submitit's wrapper ignores SIGTERM; before training starts the job's own handler stops it."""
    sweep = tmp_path / "sweep"
    log = tmp_path / "sweep.log"
    process = start_cli(*SLURM, "seed=0", "trainer.max_epochs=60", f"hydra.sweep.dir={sweep}", cwd=tmp_path, log=log)
    try:
        deadline = time.monotonic() + 120
        job = ""
        while not job and time.monotonic() < deadline:
            job = next(iter(_squeue_ids(tmp_path, "R")), "")
            time.sleep(0.1)
        assert job, "the job never started"
        subprocess.run(["scancel", job], check=True, timeout=30)
        assert process.wait(timeout=300) == 1, log.read_text()[-3000:]
    finally:
        process.kill()
    (record,) = _jobs(sweep)
    assert record.status == "failed" and record.scheduler_state == "CANCELLED", record
    assert len(record.history) < 60


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, key",
    [
        ("hydra.launcher.cpus_per_task=64", "hydra.launcher.cpus_per_task"),
        ("hydra.launcher.mem_gb=100000", "hydra.launcher.mem_gb"),
        ("hydra.launcher.partition=nosuchpartition", "hydra.launcher.partition"),
        ("trainer.accelerator=gpu", "hydra.launcher.gpus_per_node"),
        ("hydra.launcher.nodes=9", "hydra.launcher.nodes"),
    ],
)
def test_a_request_the_cluster_cannot_run_is_refused_before_submission(slurm_cluster, tmp_path, override, key):
    assert _squeue_ids(tmp_path) == []
    done = run_cli("-m", "hydra/launcher=slurm", "seed=0,1", override, cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Config error: {key}:"), done.stderr
    assert not (tmp_path / "outputs").exists() or not any((tmp_path / "outputs").rglob("*.yaml"))
    assert _squeue_ids(tmp_path) == []  # nothing was submitted


@pytest.mark.slow
def test_sbatchs_own_refusal_is_one_line_and_leaves_nothing(slurm_cluster, tmp_path):
    done = run_cli(
        "-m", "hydra/launcher=slurm", "seed=0,1", "+hydra.launcher.additional_parameters.constraint=nosuchfeature",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "Config error: hydra.launcher: sbatch refused the sweep: sbatch: error: Batch job submission failed: "
        "Invalid feature specification"
    ]
    assert not list((tmp_path / "outputs").rglob("multirun.yaml"))


@pytest.mark.slow
def test_ddp_with_two_slurm_tasks_runs_the_job_once(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    done = run_cli(
        *SLURM, "trainer=ddp", "trainer.accelerator=cpu", "trainer.max_epochs=1", "seed=0",
        f"hydra.sweep.dir={sweep}", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (record,) = _jobs(sweep)
    assert record.ok and record.device["world_size"] == 2, record
    assert not list((sweep / "0").glob("results.attempt-*.json"))  # one attempt, written by rank 0 alone
    (slurm_job,) = _slurm_job_ids(sweep)
    logs = sorted((sweep / ".submitit" / slurm_job).glob("*_log.out"))
    assert len(logs) == 2  # two tasks ...
    assert not any("Skipping job" in p.read_text() for p in (sweep / ".submitit" / slurm_job).glob("*_log.err"))
    assert done.stdout.count("done] ok") == 1  # ... one job


@pytest.mark.slow
def test_a_requeued_job_continues_and_ends_ok_with_its_record_whole(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    log = tmp_path / "sweep.log"
    epochs = 60
    process = start_cli(*SLURM, "seed=0", f"trainer.max_epochs={epochs}", f"hydra.sweep.dir={sweep}", cwd=tmp_path, log=log)
    try:
        _wait_for_epochs(sweep / "0", 3)
        job = _squeue_id(tmp_path, 0)
        # What SLURM sends `signal_delay_s` before the time limit: Lightning saves an HPC checkpoint and requeues.
        subprocess.run(["scancel", "--signal=USR1", job], check=True, timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # a requeued job waits (BeginTime) before it may start again
            state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True).stdout
            if state.strip() == "PENDING":
                subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], timeout=30)
                break
            time.sleep(0.2)
        assert process.wait(timeout=400) == 0, log.read_text()[-3000:]
    finally:
        process.kill()
    run_dir = sweep / "0"
    first = json.loads((run_dir / "results.attempt-1.json").read_text())
    assert first["status"] == "requeued" and "hpc_ckpt" in first["error"]
    record = RunRecord.read(run_dir)
    assert record.ok and record.resumed_from, record
    assert [row["epoch"] for row in record.history] == list(range(1, epochs + 1))
    with (run_dir / "metrics.csv").open() as rows:
        validated = {int(row["epoch"]) for row in csv.DictReader(rows) if row["val/acc"]}
    assert validated == set(range(epochs))  # the resumed epoch's validation row too
    out = log.read_text()
    assert out.count("done]") == 1 and "[1/1 done] ok" in out, out[-3000:]


# The request check itself, against partitions and nodes as scontrol lists them (no cluster needed).
NODE = SlurmNode("n1", cpus=8, memory_mb=32_000, gpus=2, partitions=("cpu", "gpu"))
PARTITIONS = [SlurmPartition("cpu", default=True, max_time_min=None), SlurmPartition("gpu", False, 60.0)]


@given(
    cpus=st.integers(1, 16),
    tasks=st.integers(1, 4),
    mem=st.one_of(st.none(), st.integers(1, 64)),
    gpus=st.integers(0, 4),
    partition=st.sampled_from([None, "cpu", "gpu", "other"]),
    minutes=st.integers(1, 240),
)
def test_the_request_check_refuses_exactly_what_no_node_can_run(cpus, tasks, mem, gpus, partition, minutes):
    request = SlurmRequest(partition, 1, tasks, cpus, mem, gpus, float(minutes))
    fits_node = tasks * cpus <= 8 and (mem is None or mem * 1024 <= 32_000) and gpus <= 2
    chosen = PARTITIONS[1] if partition == "gpu" else PARTITIONS[0]
    fits = partition != "other" and fits_node and (chosen.max_time_min is None or minutes <= chosen.max_time_min)
    try:
        check_request(request, PARTITIONS, [NODE])
    except ConfigError as error:
        assert not fits, error
        assert str(error).startswith("hydra.launcher")
    else:
        assert fits
