"""#29.5: ``experiments test`` evaluates a saved run as a run of its own, which compare reads beside it."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch

from experiments.records.run_record import RunRecord
from experiments.records.test_predictions import read_predictions
from tests.conftest import REPO, TINY, run_cli


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    result = run_cli(*TINY, "plots=false", f"hydra.run.dir={root / 'run'}", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return root / "run"


def test_a_run_tested_again_gives_its_own_test_acc_and_compare_reads_both(tiny_run, tmp_path):
    out = tmp_path / "tested"
    result = run_cli("test", str(tiny_run), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    trained, tested = RunRecord.read(tiny_run), RunRecord.read(out)
    assert tested.status == "ok"
    assert tested.metrics["test/acc"] == trained.metrics["test/acc"]  # the same checkpoint, to the digit
    assert tested.metrics["test/f1_macro"] == trained.metrics["test/f1_macro"]
    assert tested.evaluated["checkpoint"].endswith("checkpoints/best.ckpt")
    assert tested.evaluated["run"] == str(tiny_run.resolve())
    mine, _ = read_predictions(out / tested.test_predictions)
    theirs, _ = read_predictions(tiny_run / trained.test_predictions)
    assert np.array_equal(mine.predicted, theirs.predicted) and np.array_equal(mine.true, theirs.true)
    report = tmp_path / "report"
    compared = run_cli("compare", str(tiny_run), str(out), "-o", str(report), "--no-plots", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr[-3000:]
    with (report / "runs.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and {float(r["test/acc"]) for r in rows} == {trained.metrics["test/acc"]}


def test_the_class_interleaved_order_changes_no_whole_set_metric(tiny_run, tmp_path, monkeypatch):
    """The same images in the split's own order (the order before #29.3): the same metrics and predictions."""
    import experiments.data.datamodule as datamodule
    from experiments.cli.test_command import run_test

    monkeypatch.setattr(datamodule, "interleaved_order", lambda labels, seed: torch.arange(len(labels)))
    assert run_test(tiny_run, [], tmp_path / "split_order") == 0
    trained, tested = RunRecord.read(tiny_run), RunRecord.read(tmp_path / "split_order")
    for key in ("test/acc", "test/f1_macro", "test/acc_top5"):
        assert tested.metrics[key] == trained.metrics[key], key
    assert tested.metrics["test/loss"] == pytest.approx(trained.metrics["test/loss"], rel=1e-6)  # float sums
    mine, _ = read_predictions(tmp_path / "split_order" / tested.test_predictions)
    theirs, _ = read_predictions(tiny_run / trained.test_predictions)
    assert np.array_equal(mine.predicted, theirs.predicted)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["/no/such/run"], "no such run dir or checkpoint"),
        (["{run}/metrics.csv"], "is not a readable checkpoint"),
        (["{run}", "data=flowers17"], "data=flowers17 has num_classes=17"),
        (["{run}", "model=alexnet"], "experiments test takes data="),
        (["{bad}"], "does not hold the weights of model=lenet5"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(tiny_run, tmp_path, args, says):
    bad = tmp_path / "bad.ckpt"
    state = torch.load(tiny_run / "checkpoints" / "best.ckpt", weights_only=True)
    first = next(iter(state["state_dict"]))
    state["state_dict"][first] = torch.zeros(3, 3)  # another network's tensor under this model's name
    torch.save(state, bad)
    out = tmp_path / "out"
    result = run_cli("test", *(a.format(run=tiny_run, bad=bad) for a in args), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert not out.exists()


def test_its_own_help():
    shown = subprocess.run([sys.executable, "-m", "experiments", "test", "--help"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert "usage: experiments test" in shown and "PATH" in shown and "compare" in shown
