"""Shared fixtures: Hydra compose of the real config tree, CLI subprocess runs, the shared data dir."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import DictConfig

from experiments.config import ConfigError, compose, config_groups, validate

REPO = Path(__file__).resolve().parents[1]
# A fixed speed for time estimates (sweeps/time_estimate.py), so that no test measures the machine.
CALIBRATION = {"version": 1, "devices": {kind: {"train_flops_per_s": 2e9, "eval_flops_per_s": 6e9, "overhead_s": 2.0,
               "source": "tests/conftest.py", "when": "fixed"} for kind in ("cpu", "cuda")}}  # fmt: skip
if not os.environ.get("EXPERIMENTS_CALIBRATION"):
    import json
    import tempfile

    _calibration = Path(tempfile.mkdtemp(prefix="experiments-calibration-")) / "calibration.json"
    _calibration.write_text(json.dumps(CALIBRATION))
    os.environ["EXPERIMENTS_CALIBRATION"] = str(_calibration)
# The metric names every logger and results.json must carry.
METRICS = {
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "test/loss",
    "test/acc",
    "test/acc_top5",
    "test/f1_macro",
}
# Small, fast training settings for end-to-end runs (the one place they are spelled out).
NO_SANITY = ["trainer.num_sanity_val_steps=0"]
# One epoch, the whole (small) data set.
QUICK = ["trainer.max_epochs=1", *NO_SANITY]
# One epoch of a few batches: for runs whose numbers no test reads (sweeps, loggers, records).
TINY = [*QUICK, "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2"]
# AlexNet at 64 px, a CSV logger and 2 / 1 / 1 batches: the smallest AlexNet run that trains, validates, tests.
TINY_ALEXNET = [*QUICK, "model=alexnet", "image_size=64", "logger=csv", "trainer.limit_train_batches=2",
                "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]  # fmt: skip


def compose_config(*overrides: str, output_dir: str = "outputs/composed") -> DictConfig:
    """Compose ``conf/config.yaml`` with overrides, as the CLI does, minus Hydra's own node (not validated)."""
    return compose([*overrides, f"paths.output_dir={output_dir}"], validated=False)


# The in-process training runs' settings: 2 epochs of digits on the CPU.
FAST = ("trainer.max_epochs=2", *NO_SANITY, "trainer=cpu")


def train(run_dir: Path, *overrides: str):
    """Train ``FAST`` + OVERRIDES in this process into ``run_dir``; its ``RunRecord``."""
    from experiments.records.run_record import RunRecord
    from experiments.training.job import run_job

    run_job(compose_config(*FAST, *overrides, output_dir=str(run_dir)))
    return RunRecord.read(run_dir)


def options(group: str) -> list[str]:
    """The options of a config group, from its YAML files (``conf/<group>/*.yaml``), sorted."""
    return sorted(config_groups()[group])


def refusal(*overrides: str) -> str:
    """The one-line ``ConfigError`` that composing and validating OVERRIDES raises.

    Its wording is asserted once (test_config); the entry points' tests check that they relay it whole.
    """
    with pytest.raises(ConfigError) as caught:
        validate(compose_config(*overrides))
    return str(caught.value)


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"}
    env.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    python_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """Run ``python [PYTHON_ARGS] -m experiments ARGS`` in a subprocess, with no stdin and W&B offline."""
    return subprocess.run(
        [sys.executable, *python_args, "-m", "experiments", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_cli(*args: str, cwd: Path, log: Path) -> subprocess.Popen:
    """Start ``python -m experiments ARGS`` without waiting; its output (both streams) goes to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")  # colours, cursor moves, links


def run_in_terminal(args: list[str], cwd: Path, columns: int, timeout: float = 300) -> str:
    """``python -m experiments ARGS`` on a real pseudo-terminal of ``columns`` x 40; its screen text.

    No COLUMNS variable: the size comes from the terminal itself. Colour codes are removed; carriage
    returns (a live bar's redraws) are kept.
    """
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in cli_env(TERM="xterm-256color").items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=30)
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert process.returncode == 0, screen[-3000:]
    return ANSI.sub("", screen)


@pytest.fixture(autouse=True)
def no_hydra_job_left_behind():
    """A test that runs a job or sweep in-process leaves no job's Hydra node for the next test to read."""
    yield
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """One in-process run of ``FAST`` (the defaults) for the tests that only read its files: (run dir, record).

    Shared by every test of the session (of the xdist worker): a test must not write into it; one that
    needs to must ``shutil.copytree`` it into its own ``tmp_path`` first.
    """
    run_dir = tmp_path_factory.mktemp("default_run")
    record = train(run_dir)
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().cfg = None
    return run_dir, record


@pytest.fixture(scope="session")
def one_epoch_run(tmp_path_factory) -> Path:
    """The run dir of one finished CLI run of ``QUICK`` (LeNet-5, digits, 1 epoch), shared by the session.

    Read-only: a test that resumes, corrupts or fills it copies it first (``shutil.copytree(one_epoch_run,
    tmp_path / "run")``); that a copied run dir resumes on its own checkpoints is
    test_records_resume::test_moved_and_copied_run_dirs_resume_and_test_with_their_own_checkpoints.
    """
    root = tmp_path_factory.mktemp("one_epoch_run")
    run_dir = root / "run"
    # checkpoints.keep=all: it keeps last.ckpt, as an interrupted run does, for the tests that resume it
    first = run_cli(*QUICK, "checkpoints.keep=all", f"hydra.run.dir={run_dir}", cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="session")
def default_cli_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``python -m experiments hydra.run.dir=<cwd>/run``: the defaults (10 epochs), piped; (its process, run dir).

    Read-only; the run's working dir is ``run_dir.parent``.
    """
    root = tmp_path_factory.mktemp("default_cli_run")
    run_dir = root / "run"
    result = run_cli(f"hydra.run.dir={run_dir}", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, run_dir


@pytest.fixture(scope="session")
def submitit_sweep(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A 2-job ``hydra/launcher=local`` (submitit) sweep of ``TINY`` runs: (its process, its sweep dir). Read-only."""
    root = tmp_path_factory.mktemp("submitit_sweep")
    sweep = root / "sweep"
    result = run_cli(
        "-m", "hydra/launcher=local", "pooling=max,min", *TINY, f"hydra.sweep.dir={sweep}", cwd=root
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result, sweep


@dataclass(frozen=True)
class OptunaStudy:
    """Two runs of one Optuna study (``TINY`` trials): 3 trials, then 2 more. Read-only."""

    storage: str  # the study's sqlite URL
    name: str
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    first_sweep: Path
    second_sweep: Path


@pytest.fixture(scope="session")
def optuna_study(tmp_path_factory) -> OptunaStudy:
    root = tmp_path_factory.mktemp("optuna_study")
    storage, name = f"sqlite:///{root / 'optuna.db'}", "t"
    args = [
        "hparams_search=optuna",
        f"hydra.sweeper.study_name={name}",
        f"hydra.sweeper.storage={storage}",
        *TINY,
    ]
    runs = []
    for trials, sweep in ((3, root / "first"), (2, root / "second")):
        done = run_cli(*args, f"hydra.sweeper.n_trials={trials}", f"hydra.sweep.dir={sweep}", cwd=root)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        runs.append(done)
    return OptunaStudy(storage, name, *runs, root / "first", root / "second")


@pytest.fixture
def data_dir() -> Path:
    """The shared real datasets (``EXPERIMENTS_DATA_DIR``); skips where it is not set."""
    value = os.environ.get("EXPERIMENTS_DATA_DIR")
    if not value:
        pytest.skip("EXPERIMENTS_DATA_DIR is not set: real MNIST/flowers17 files are needed")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"EXPERIMENTS_DATA_DIR={value} is not a directory")
    return path
