"""A secret typed into an override (the value of a real ``*_TOKEN`` variable) reaches no file a run writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments.records.run_record import RunRecord

from .conftest import QUICK, cli_env, run_cli

SECRET = "tok456xyz"
TYPED = [f"logger.wandb.name=run-{SECRET}", f"+notes.plain={SECRET}"]
MANY_LOGGERS = ["logger=many", *QUICK]


def leaks(root: Path) -> list[Path]:
    """Every file under ``root`` (W&B's binary ``.wandb`` files, checkpoints, Hydra's files) holding the secret."""
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) > 15
    return [p for p in files if SECRET.encode() in p.read_bytes()]


@pytest.mark.slow
def test_a_secret_typed_in_an_override_is_masked_in_every_file_of_the_run(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        *MANY_LOGGERS, *TYPED, f"hydra.run.dir={run_dir}", cwd=tmp_path, env=cli_env(MY_TOKEN=SECRET)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert leaks(run_dir) == []
    assert SECRET not in result.stdout + result.stderr
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))  # the file `wandb sync` uploads
    saved = OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")  # masked, and still YAML
    assert list(saved)[-2:] == ["logger.wandb.name=run-***", "+notes.plain=***"]
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").notes.plain == "***"
    assert OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.overrides.task[-1] == "+notes.plain=***"
    assert RunRecord.read(run_dir).wandb["name"] == "run-***"


@pytest.mark.slow
def test_a_secret_typed_in_a_sweep_is_masked_in_the_sweep_dir_too(tmp_path):
    sweep_dir = tmp_path / "sweep"
    result = run_cli(
        "-m",
        *MANY_LOGGERS,
        *TYPED,
        "seed=0",
        f"hydra.sweep.dir={sweep_dir}",
        cwd=tmp_path,
        env=cli_env(MY_TOKEN=SECRET),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert leaks(sweep_dir) == []  # multirun.yaml, sweep_summary.*, the job's dir
    assert SECRET not in result.stdout + result.stderr
