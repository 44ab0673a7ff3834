"""A W&B run continued with ``resume=``: the same run, named by its overrides, its step going on."""

from __future__ import annotations

import pytest

from experiments.records.run_record import RunRecord
from experiments.records.wandb_offline import read_offline_run

from .conftest import TINY, cli_env, run_cli


@pytest.mark.slow
def test_a_resumed_wandb_run_keeps_its_name_and_steps_on_from_where_it_stopped(tmp_path):
    run_dir = tmp_path / "run"
    env = cli_env(WANDB_SILENT="false")  # W&B's own warnings are printed
    first = run_cli("logger=wandb", *TINY, "checkpoints.keep=all", f"hydra.run.dir={run_dir}", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = read_offline_run(run_dir)  # a run dir is read as its W&B run
    second = run_cli(f"resume={run_dir}", "trainer.max_epochs=2", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    output = first.stdout + first.stderr + second.stdout + second.stderr
    assert "anonymous" not in output and "wandb: WARNING" not in output

    run = read_offline_run(run_dir)  # both attempts, in order
    results = RunRecord.read(run_dir)
    assert run.run_id == before.run_id == results.wandb["run_id"]
    assert run.name == results.name == ",".join(["trainer.max_epochs=2", *TINY[1:], "checkpoints.keep=all"])  # no logger=, resume=
    assert len(run.history) > len(before.history)
    steps = [row["_step"] for row in run.history]
    assert steps == sorted(steps)  # W&B's step goes on from the first attempt's, not from 0
    last_step = before.history[-1]["_step"]
    assert all(row["_step"] >= last_step for row in run.history[len(before.history) :])
    epochs = [(row["epoch"], row["_step"]) for row in run.history if "train/loss" in row]
    assert [e for e, _ in epochs] == [0, 1] and epochs[1][1] > last_step  # epoch 2 after the first's test
    assert all(row["_step"] == row["trainer/global_step"] for row in run.history if "train/loss" in row)
    assert run.summary["model/params"] == results.params_total and run.exit_code == 0
