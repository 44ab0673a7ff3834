"""W&B mode resolution: online only with credentials, never a prompt, even on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from experiments.records.identity import JobInfo
from experiments.training.loggers import resolve_wandb_mode, wandb_credentials_exist

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
