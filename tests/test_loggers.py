"""W&B mode resolution: online only with credentials, never a prompt, even on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from experiments.config.wandb_mode import resolve_wandb_mode, wandb_credentials_exist
from experiments.records.identity import JobInfo
from experiments.records.wandb_offline import read_offline_run
from experiments.training.loggers import finish_wandb, session_hparams, tensorboard_place, wandb_logger

from .conftest import QUICK, cli_env


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    return tmp_path / "netrc"


def test_offline_without_credentials(no_credentials):
    assert not wandb_credentials_exist()
    assert resolve_wandb_mode("auto") == "offline"


def test_online_with_an_api_key(no_credentials, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "online"


def test_online_with_a_key_stored_by_wandb_login(no_credentials):
    no_credentials.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    no_credentials.chmod(0o600)
    assert resolve_wandb_mode("auto") == "online"


def test_wandb_mode_variable_and_explicit_modes_win(no_credentials, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto") == "disabled"
    assert resolve_wandb_mode("offline") == "offline"
    with pytest.raises(ValueError, match=r"logger\.wandb\.mode"):
        resolve_wandb_mode("sometimes")


def test_job_identity_names_runs_by_overrides():
    from pathlib import Path

    job = JobInfo(
        run_dir=Path("x"),
        overrides=("pooling=min", "activation=tanh", "seed=1"),
        sweep_dir=Path("outputs/multirun/2026-11-23/16-30-00-1"),
        swept={"pooling": "min", "activation": "tanh"},
    )
    assert job.name == "pooling=min,activation=tanh,seed=1"
    assert job.group == "multirun-2026-11-23_16-30-00-1"
    assert job.tags == ["pooling=min", "activation=tanh"]
    assert JobInfo(run_dir=Path("x")).name == "default" and JobInfo(run_dir=Path("x")).group is None


def test_run_names_leave_out_loggers_resume_and_sweep_options(tmp_path):
    resumed = JobInfo(
        run_dir=tmp_path,
        overrides=(
            "logger=wandb",
            "trainer.max_epochs=2",
            f"resume={tmp_path}",
            "trainer.max_epochs=3",
            "logger.wandb.project=p",
            f"resume={tmp_path}/checkpoints/last.ckpt",
        ),
    )
    assert resumed.name == "trainer.max_epochs=3"  # each key once, with its last value
    swept = ("pooling=min", "seed=1", "+trainer.limit_train_batches=3", "sweep.resume=true")
    assert (
        JobInfo(run_dir=tmp_path, overrides=swept).name == "pooling=min,seed=1,+trainer.limit_train_batches=3"
    )
    assert JobInfo(run_dir=tmp_path, overrides=("logger=many",)).name == "default"


def test_session_hparams_are_swept_keys_group_options_seed_and_model_facts():
    config = {
        "optimizer": {"lr": 0.01, "_target_": "torch.optim.Adam"},
        "seed": 2,
        "choices": {"pooling": "avg", "model": "lenet5", "logger": "many"},
        "swept": {"pooling": "avg", "optimizer.lr": "0.01", "data.root": "/tmp/a"},
        "params": {"total": 61706, "trainable": 61706},
        "flops": 833040,
    }
    assert session_hparams(config) == {
        "pooling": "avg",
        "optimizer.lr": 0.01,  # the composed value, a number TensorBoard can filter by range
        "data.root": "/tmp/a",  # not in the config: the override's text
        "model": "lenet5",
        "seed": 2,
        "params": 61706,
        "flops": 833040,
    }  # no `logger`: how the run was recorded is no hyper-parameter


def test_sweep_jobs_write_tensorboard_runs_named_by_their_overrides(tmp_path):
    sweep = tmp_path / "multirun" / "2026-01-01" / "10-00-00"
    first = JobInfo(
        run_dir=sweep / "0", overrides=("logger=many", "data.root=/x/y", "seed=0"), sweep_dir=sweep
    )
    place = tensorboard_place({"save_dir": None}, first)
    assert place == {"save_dir": str(sweep / "tensorboard"), "version": "data.root=_x_y,seed=0"}
    assert tensorboard_place({"save_dir": None}, first) == place  # the same job (a rerun) keeps its run
    other = JobInfo(
        run_dir=sweep / "1", overrides=("logger=csv", "data.root=/x/y", "seed=0"), sweep_dir=sweep
    )
    assert tensorboard_place({"save_dir": None}, other)["version"] == "data.root=_x_y,seed=0,job=1"
    single = JobInfo(run_dir=tmp_path / "run", overrides=("seed=0",))
    assert tensorboard_place({"save_dir": None}, single) == {
        "save_dir": str(tmp_path / "run" / "tensorboard")
    }
    assert tensorboard_place({"save_dir": "elsewhere"}, first) == {}


def test_a_continued_wandb_run_steps_on_from_the_trainer_step_and_warns_of_nothing(
    tmp_path, monkeypatch, capfd
):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_SILENT", raising=False)
    run_id = None
    for steps in (range(0, 3), range(3, 6)):  # the second attempt: the step restored from the checkpoint
        logger = wandb_logger(save_dir=str(tmp_path), name="pooling=avg", mode="offline", id=run_id)
        for step in steps:
            logger.log_metrics({"train/loss": 1.0 / (step + 1)}, step=step)
        logger.log_metrics({"late": 1.0}, step=0)  # below W&B's current step: kept in the current row
        logger.log_image(key="plots/x", images=[np.zeros((4, 4, 3), dtype=np.uint8)])  # no step: the same row
        run_id = logger.experiment.id
        assert finish_wandb([logger]).startswith("wandb sync ")
    run = read_offline_run(tmp_path)  # the dir holding wandb/: both attempts of the run, in order
    assert run.run_id == run_id and run.name == "pooling=avg"
    assert [row["_step"] for row in run.history if "train/loss" in row] == list(range(6))
    assert [row["trainer/global_step"] for row in run.history if "train/loss" in row] == list(range(6))
    assert [row["_step"] for row in run.history if "late" in row] == [2, 5]
    assert [row["_step"] for row in run.history if "plots/x/_type" in row] == [2, 5]
    assert "anonymous" not in capfd.readouterr().err


@pytest.mark.slow
def test_wandb_logger_on_a_terminal_without_credentials_does_not_prompt(tmp_path):
    """A real pseudo-terminal on stdin/stdout: an interactive login prompt would hang until the timeout."""
    env = cli_env(NETRC=str(tmp_path / "netrc"), HOME=str(tmp_path))
    env.pop("WANDB_MODE")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments", "logger=wandb", *QUICK, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=300) == 0, output.decode(errors="replace")[-3000:]
    text = output.decode(errors="replace")
    assert "wandb sync" in text and "API key" not in text
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb"))


def test_console_script_dispatches_compare(tmp_path):
    """`experiments compare PATH...` is `python -m experiments.compare PATH...` (no Hydra involved)."""
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from experiments.cli import main; sys.argv = ['experiments', 'compare', '--help']; main()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0 and "usage:" in result.stdout and "PATH" in result.stdout.upper()
    assert not (tmp_path / "outputs").exists()  # compare writes no run dir


def test_csv_rows_of_step_metrics_wait_and_an_epoch_row_or_the_end_writes_them_all(tmp_path):
    import csv

    from experiments.training.loggers import csv_logger

    def rows() -> list[dict[str, str]]:
        path = tmp_path / "metrics.csv"
        return list(csv.DictReader(path.open(newline=""))) if path.is_file() else []

    logger = csv_logger(save_dir=str(tmp_path))
    for step in range(3):  # as Lightning does: a save after every log_metrics
        logger.log_metrics({"train/loss_step": 1.0 / (step + 1), "epoch": 0}, step=step)
        logger.save()
    assert rows() == []  # step rows alone: no rewrite of the whole file every few steps
    logger.log_metrics({"val/acc": 0.5, "epoch": 0}, step=3)
    logger.save()
    assert [r["step"] for r in rows()] == ["0", "1", "2", "3"]  # an epoch's row is on disk at once
    logger.log_metrics({"train/loss_step": 0.1, "epoch": 1}, step=4)
    logger.save()
    assert len(rows()) == 4
    logger.finalize("failed")  # the end of fit or test, or a failure: everything
    assert [r["step"] for r in rows()] == ["0", "1", "2", "3", "4"] and rows()[-1]["train/loss_step"] == "0.1"
