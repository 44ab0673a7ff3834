"""``hydra/launcher=ray`` on a real local Ray (the extra ``ray``, in a venv of its own: ``nox -s ray``).

Each sweep starts its own Ray (2 CPUs, no dashboard, its session files in a temp dir of the test) and leaves
no Ray process behind. Where ray or hydra-ray-launcher is not installed (the ordinary suite, CI) these tests
skip, and the one test that needs Ray absent checks that the sweep is refused up front.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest

from experiments.records.run_record import RunRecord

from .conftest import cli_env, run_cli

MISSING = next((name for name in ("ray", "hydra_plugins.hydra_ray_launcher") if not find_spec(name)), None)
needs_ray = pytest.mark.skipif(
    MISSING is not None,
    reason=f"{MISSING} is not installed: the Ray tests run in a venv of their own (nox -s ray)",
)
pytestmark = pytest.mark.ray
SUMMARY = "Sweep finished in"
QUICK = ["trainer.max_epochs=1", "trainer.num_sanity_val_steps=0"]


@dataclass(frozen=True)
class RaySweep:
    """One ``python -m experiments -m hydra/launcher=ray ...`` run: its exit code, its output (stdout and
    stderr as they were written, in one) and its sweep dir."""

    returncode: int
    output: str
    sweep: Path

    def records(self) -> dict[int, RunRecord]:
        return {int(p.parent.name): RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(self.sweep)}


@pytest.fixture(scope="module")
def ray_root() -> Iterator[Path]:
    """A short temp dir for Ray's session files and sockets (a socket path has at most 107 characters)."""
    root = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def ray_sweep(*args: str, cwd: Path, ray_root: Path, sweep: Path | None = None) -> RaySweep:
    """Run a Ray sweep of ``args`` in ``cwd`` (into ``sweep`` where given); check that its Ray has stopped."""
    command = [
        sys.executable, "-m", "experiments", "-m", "hydra/launcher=ray", *args, *QUICK,
        "hydra.launcher.ray.init.num_cpus=2", f"hydra.launcher.ray.init._temp_dir={ray_root}",
    ]  # fmt: skip
    if sweep is not None:
        command.append(f"hydra.sweep.dir={sweep}")
    done = subprocess.run(
        command, cwd=cwd, env=cli_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=400,
    )  # fmt: skip
    assert not ray_processes(ray_root, wait_s=20), "Ray processes left behind"
    if sweep is None:
        (sweep,) = sorted((cwd / "outputs" / "multirun").glob("*/*"))[-1:]
    return RaySweep(done.returncode, done.stdout, sweep)


def ray_processes(ray_root: Path, wait_s: float) -> list[str]:
    """The command lines of processes that use ``ray_root`` (Ray's own), once ``wait_s`` has passed or none is left."""
    import psutil

    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for process in psutil.process_iter(["cmdline"]):
            line = " ".join(process.info.get("cmdline") or [])
            if str(ray_root) in line:
                found.append(line[:200])
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def worker_lines(output: str) -> list[int]:
    """The line numbers of the lines Ray forwarded from its workers (``(_run_job pid=...)``)."""
    return [n for n, line in enumerate(output.splitlines()) if "(_run_job pid=" in line]


def summary_line(output: str) -> int:
    return next(n for n, line in enumerate(output.splitlines()) if line.startswith(SUMMARY))


@pytest.fixture(scope="module")
def ok_sweep(tmp_path_factory, ray_root) -> RaySweep:
    root = tmp_path_factory.mktemp("ray_ok")
    return ray_sweep("seed=0,1", cwd=root, ray_root=ray_root, sweep=root / "sweep")


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory, ray_root) -> tuple[Path, RaySweep]:
    """A sweep whose second job fails inside (its loss turns NaN): (its working dir, the sweep)."""
    root = tmp_path_factory.mktemp("ray_failing")
    return root, ray_sweep("optimizer.lr=0.001,1e30", cwd=root, ray_root=ray_root)


@needs_ray
@pytest.mark.slow
def test_a_ray_sweep_ends_ok_with_a_summary(ok_sweep):
    assert ok_sweep.returncode == 0, ok_sweep.output[-4000:]
    records = ok_sweep.records()
    assert sorted(records) == [0, 1] and all(r.status == "ok" for r in records.values())
    assert (ok_sweep.sweep / "sweep_summary.md").is_file()
    assert (ok_sweep.sweep / "sweep_summary.json").is_file()
    assert "Sweep finished in" in ok_sweep.output and "2 of 2 jobs ok." in ok_sweep.output
    assert "validated against ConfigStore schema" not in ok_sweep.output  # our ray.yaml is the only `ray`


@needs_ray
@pytest.mark.slow
def test_the_workers_output_comes_before_the_summary(ok_sweep):
    output = ok_sweep.output
    lines = output.splitlines()
    summary = summary_line(output)
    forwarded = worker_lines(output)
    assert forwarded and max(forwarded) < summary, output[-4000:]
    # both jobs' progress lines and their own lines (an epoch line each), all before the summary
    for wanted in ("[1/2] start", "[2/2] start", "[1/2 done] ok", "[2/2 done] ok"):
        assert any(wanted in line for line in lines[:summary]), wanted
    assert sum("epoch 1/1" in line for line in lines[:summary]) == 2
    assert "experiments-ray-job-end" not in output  # the end markers are not shown


@needs_ray
@pytest.mark.slow
def test_a_failing_job_is_its_own_failure_and_the_sweep_goes_on(failing_sweep):
    _, sweep = failing_sweep
    assert sweep.returncode == 1, sweep.output[-4000:]
    records = sweep.records()
    assert records[0].status == "ok"
    assert records[1].status == "failed" and "NonFiniteLossError" in (records[1].error or "")
    summary = summary_line(sweep.output)
    assert max(worker_lines(sweep.output)) < summary
    assert "1 of 2 jobs ok." in sweep.output
    assert "re-run the same command with sweep.resume=true" in sweep.output


@needs_ray
@pytest.mark.slow
def test_resume_finds_the_ray_sweep_and_reruns_only_the_failed_job(failing_sweep, ray_root):
    root, first = failing_sweep
    finished_at = first.records()[0].finished_at
    again = ray_sweep("optimizer.lr=0.001,1e30", "sweep.resume=true", cwd=root, ray_root=ray_root)
    assert f"Resuming sweep {first.sweep.relative_to(root)}" in again.output, again.output[-4000:]
    assert again.sweep == first.sweep and len(list((root / "outputs" / "multirun").glob("*/*"))) == 1
    records = again.records()
    assert records[0].finished_at == finished_at  # skipped, not run again
    assert records[1].status == "failed" and (first.sweep / "1" / "results.attempt-1.json").is_file()
    assert again.returncode == 1


@needs_ray
def test_worker_lines_are_printed_at_once_and_the_end_markers_are_kept_out(capsys):
    """The driver's printer: alike lines of two workers both printed at once (Ray would hold the second
    back as a repeat), markers counted but not printed."""
    from hydra_plugins.experiments_launcher.ray_launcher import MARK, WorkerOutput

    output = WorkerOutput("abc")
    output._replaced = [("ray_print_logs", print)]  # as after __enter__ with Ray's printer registered
    batch = {"ip": "1", "localhost": "1", "task_name": "_run_job", "is_err": False}
    output.handle({**batch, "pid": 11, "lines": ["epoch 1/1 loss=0.5", f"{MARK} abc 0"]})
    output.handle({**batch, "pid": 12, "lines": ["epoch 1/1 loss=0.7", f"{MARK} other 1"]})
    output.handle({**batch, "pid": 11, "is_err": True, "lines": [f"{MARK} abc 0"]})
    printed = capsys.readouterr().out
    assert "pid=11" in printed and "loss=0.5" in printed and "loss=0.7" in printed
    assert f"{MARK} abc" not in printed and f"{MARK} other 1" in printed  # another launch's token is a line
    assert output.wait_for([0], timeout=0) == []
    assert output.wait_for([0, 1], timeout=0.1) == [1]


def test_the_ray_config_runs_its_cores_over_each_jobs_cores_at_once():
    """conf/hydra/launcher/ray.yaml composes with or without Ray; the sweep's time estimate divides by it."""
    from experiments.config import compose
    from experiments.sweeps.time_estimate import parallelism

    config = compose(["hydra/launcher=ray", "hydra.launcher.ray.init.num_cpus=4"], hydra_config=True)
    launcher = config.hydra.launcher
    assert launcher._target_.endswith("experiments_launcher.ray_launcher.OrderedRayLauncher")
    assert launcher.ray.init.address == "local" and launcher.ray.init.include_dashboard is False
    assert parallelism(config) == 4
    wider = compose(["hydra/launcher=ray", "hydra.launcher.ray.init.num_cpus=4", "hydra.launcher.ray.remote.num_cpus=2"],
                    hydra_config=True)  # fmt: skip
    assert parallelism(wider) == 2


@pytest.mark.skipif(MISSING is None, reason="ray is installed here: the refusal is for a venv without it")
def test_without_ray_a_ray_sweep_is_refused_up_front(tmp_path):
    done = run_cli("-m", "hydra/launcher=ray", "seed=0,1", cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert f"Config error: hydra/launcher: ray needs {MISSING}, which is not installed here" in output
    assert 'pip install -e ".[ray]"' in output
    assert not (tmp_path / "outputs").exists()
