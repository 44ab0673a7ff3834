"""#29.2 Disk: the checkpoint policy (checkpoints.keep), the dry run's peak disk, and the up-front refusal."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from experiments.cli.disk import JobDisk, job_disk, optimizer_slots, sweep_peak

from .conftest import TINY, cli_env, refusal, run_cli


def test_optimizer_state_is_sized_from_the_optimizer_config():
    assert optimizer_slots(OmegaConf.create({"_target_": "torch.optim.Adam"})) == 2
    assert optimizer_slots(OmegaConf.create({"_target_": "torch.optim.AdamW", "amsgrad": True})) == 3
    assert optimizer_slots(OmegaConf.create({"_target_": "torch.optim.SGD", "momentum": 0.9})) == 1
    assert optimizer_slots(OmegaConf.create({"_target_": "torch.optim.SGD", "momentum": 0})) == 0
    cfg = OmegaConf.create({"optimizer": {"_target_": "torch.optim.Adam"}, "checkpoints": {"keep": "best"}})
    weights = 1000 * 4
    best = job_disk(1000, cfg)
    assert best.peak - best.end == 2 * (3 * weights)  # last.ckpt whole and one being rewritten beside it
    cfg.checkpoints.keep = "all"
    assert job_disk(1000, cfg).end - best.end == 2 * 3 * weights - weights
    jobs = [JobDisk(peak=10, end=1), JobDisk(peak=30, end=2), JobDisk(peak=20, end=3)]
    assert sweep_peak(jobs, 1) == 6 + 28 and sweep_peak(jobs, 2) == 6 + 28 + 17


def test_checkpoints_keep_is_validated():
    assert refusal("checkpoints.keep=some") == (
        "checkpoints.keep: must be best (the best weights alone at a successful end) or all; got 'some' (str)"
    )


def test_a_finished_run_keeps_the_best_weights_alone_and_keep_all_keeps_both(tmp_path):
    for keep, expected in (("best", ["best.ckpt"]), ("all", ["best.ckpt", "last.ckpt"])):
        run_dir = tmp_path / keep
        done = run_cli(*TINY, f"checkpoints.keep={keep}", f"hydra.run.dir={run_dir}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == expected
        best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)
        assert best["state_dict"] and best["config"]["model"]["name"] == "lenet5"
        assert ("optimizer_states" in best) == (keep == "all")
    tested = run_cli("test", str(tmp_path / "best"), cwd=tmp_path)  # the weights-only best still tests
    assert tested.returncode == 0, tested.stderr[-3000:]


def test_the_dry_run_states_the_disk_at_the_peak(tmp_path):
    shown = run_cli("-m", "experiment=study_pooling", "sweep.dry_run=true", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-3000:]
    line = next(x for x in shown.stdout.splitlines() if x.startswith("Disk: "))
    assert "a job at its peak" in line and "the sweep at its peak" in line and "free in" in line
    alexnet = run_cli(
        "-m", "model=alexnet", "pooling=max,avg", "optimizer=sgd", "sweep.dry_run=true", cwd=tmp_path
    )
    assert alexnet.returncode == 0, alexnet.stderr[-3000:]
    line = next(x for x in alexnet.stdout.splitlines() if x.startswith("Disk: "))
    assert " GB a job at its peak" in line and "(2 jobs, 1 at once)" in line, line
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_or_run_that_would_not_fit_is_refused_and_writes_nothing(tmp_path):
    small = cli_env(EXPERIMENTS_FREE_BYTES="1000")
    sweep = run_cli("-m", "pooling=max,avg", *TINY, "hydra.sweep.dir=out/sweep", cwd=tmp_path, env=small)
    assert sweep.returncode == 2, sweep.stderr[-3000:]
    [line] = sweep.stderr.strip().splitlines()
    assert (
        line.startswith("Config error: checkpoints: this sweep of 2 jobs would need ")
        and "Traceback" not in line
    )
    assert f"but {tmp_path} has 1.0 kB free (for out/sweep)" in line, line
    single = run_cli(*TINY, "hydra.run.dir=out/run", cwd=tmp_path, env=small)
    assert single.returncode == 2 and "this run would need" in single.stderr, single.stderr[-3000:]
    assert list(tmp_path.iterdir()) == []
    shown = run_cli("-m", "pooling=max,avg", *TINY, "sweep.dry_run=true", cwd=tmp_path, env=small)
    assert "it would not fit, so the sweep would be refused" in shown.stdout
    assert Path(tmp_path).exists() and list(tmp_path.iterdir()) == []
