"""#29.3: val and test are served class-interleaved, so a limited evaluation reads every class in proportion;
one that still misses a class is flagged on the console and in results.json (``limited_evaluation``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from experiments.data.splits import classes_in_prefix, interleaved_order
from experiments.records.run_record import RunRecord
from tests.conftest import QUICK, TINY, run_cli

DATA = os.environ.get("EXPERIMENTS_DATA_DIR")


def test_every_prefix_holds_the_classes_in_proportion():
    labels = torch.arange(17).repeat_interleave(20)  # flowers17's test split: sorted by class, 20 each
    order = interleaved_order(labels, seed=0)
    assert sorted(order.tolist()) == list(range(len(labels)))  # the same images, another order
    served = labels[order]
    assert classes_in_prefix(labels, 64) == 4  # the old order: 2 batches of 32 held 4 of 17 classes
    assert classes_in_prefix(served, 64) == 17
    for m in (17, 34, 100, 200):
        counts = torch.bincount(served[:m], minlength=17).float()
        assert (counts - m / 17).abs().max() <= 1.0  # in proportion, give or take one
    assert torch.equal(order, interleaved_order(labels, seed=0))  # seeded
    assert not torch.equal(order, interleaved_order(labels, seed=1))
    unequal = torch.tensor([0] * 90 + [1] * 10)  # classes of unequal size keep their shares
    assert torch.bincount(unequal[interleaved_order(unequal, 3)][:20]).tolist() == [18, 2]


def test_a_limit_too_small_for_every_class_is_flagged(tmp_path):
    run_dir = tmp_path / "run"
    limited = [*TINY, "+trainer.limit_test_batches=1", "data.eval_batch_size=4"]
    result = run_cli(*limited, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    assert record.limited_evaluation["test"] == {
        "batches": 1, "of_batches": 90, "images": 4, "classes_seen": 4, "classes": 10
    }  # fmt: skip
    assert record.limited_evaluation["val"]["classes_seen"] == 8  # TINY: 2 validation batches of 4
    console = result.stdout + result.stderr
    assert "limited evaluation: test read 1 of 90 batches, holding 4 of 10 classes" in console


@pytest.mark.skipif(not DATA, reason="EXPERIMENTS_DATA_DIR is not set: no flowers17 copy to read")
def test_flowers17_two_test_batches_cover_all_17_classes(tmp_path):
    assert (Path(DATA) / "flowers17" / "jpg").is_dir()
    run_dir = tmp_path / "run"
    args = [*QUICK, "data=flowers17", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=2",
            "+trainer.limit_test_batches=2", "logger=csv", "plots=false", f"hydra.run.dir={run_dir}"]  # fmt: skip
    result = run_cli(*args, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    test = record.limited_evaluation["test"]
    assert (test["batches"], test["classes_seen"], test["classes"]) == (2, 17, 17)
    assert "limited evaluation" not in result.stdout + result.stderr  # nothing to flag: every class seen
