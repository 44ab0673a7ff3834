"""Resume from what is really there: the newest checkpoint that loads; a moved or copied run dir uses its own files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from experiments.records.run_record import RunRecord

from .conftest import QUICK, run_cli


def results_of(run_dir: Path) -> RunRecord:
    return RunRecord.read(run_dir)


def checkpoint_paths(run_dir: Path) -> set[str]:
    """Every path the ModelCheckpoint state inside the run's checkpoints points at."""
    paths = set()
    for ckpt in (run_dir / "checkpoints").glob("*.ckpt"):
        state = torch.load(ckpt, weights_only=True)
        for key, callback in state["callbacks"].items():
            if str(key).startswith("ModelCheckpoint"):
                paths |= {callback["dirpath"], callback["best_model_path"], *callback["best_k_models"]}
    return paths


@pytest.mark.slow
def test_a_corrupt_newer_checkpoint_is_passed_over_for_the_newest_that_loads(tmp_path, one_epoch_run):
    run_dir = tmp_path / "run"
    shutil.copytree(one_epoch_run, run_dir)
    checkpoints = run_dir / "checkpoints"
    (checkpoints / "last.ckpt").rename(checkpoints / "interrupted.ckpt")  # a checkpoint the run wrote
    whole = (checkpoints / "interrupted.ckpt").read_bytes()
    (checkpoints / "last.ckpt").write_bytes(whole[: len(whole) // 2])  # newer, and torn

    resumed = run_cli(f"resume={run_dir}", "trainer.max_epochs=2", "checkpoints.keep=all", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (
        f"Resuming {run_dir} from interrupted.ckpt (the newest that loads: last.ckpt is not a readable"
        in (resumed.stdout)
    )
    done = results_of(run_dir)
    assert done.status == "ok" and [e["epoch"] for e in done.history] == [1, 2]  # 1-based
    assert torch.load(checkpoints / "last.ckpt", weights_only=True)["epoch"] == 1  # rewritten whole


@pytest.mark.slow
def test_moved_and_copied_run_dirs_resume_and_test_with_their_own_checkpoints(tmp_path):
    original = tmp_path / "original"
    first = run_cli(*QUICK, "checkpoints.keep=all", f"hydra.run.dir={original}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    record = results_of(original)
    assert record.run_dir == "." and record.best_checkpoint == "checkpoints/best.ckpt"
    assert record.plots == ["plots/curves.png", "plots/confusion_matrix.png"]

    copied, moved = tmp_path / "copied", tmp_path / "elsewhere" / "moved"
    shutil.copytree(original, copied)
    moved.parent.mkdir()
    shutil.move(original, moved)  # the original dir is gone: nothing may still point at it

    for run_dir in (moved, copied):
        resumed = run_cli(f"resume={run_dir}", "trainer.max_epochs=2", "checkpoints.keep=all", cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        done = results_of(run_dir)
        assert done.status == "ok" and done.best_checkpoint == "checkpoints/best.ckpt"
        assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
        assert all(p.startswith(str(run_dir.resolve())) for p in checkpoint_paths(run_dir))
        shutil.rmtree(run_dir)  # so the copy cannot lean on the moved dir either
