"""Real Trainer runs in-process: optimizers, schedulers, callbacks, checkpoints, seeding, results.json."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from PIL import Image

from experiments.records.run_record import RunRecord

from .conftest import METRICS, compose_config, train


def test_results_json_contract(default_run):
    _, results = default_run
    assert results.status == "ok" and results.error is None
    assert set(results.metrics) >= METRICS
    assert results.params == {"total": 61_706, "trainable": 61_706}
    summary = results.summary  # the layer table of `python -m experiments.summary`, for every run
    assert summary["totals"]["params"] == 61_706 and results.flops == summary["totals"]["flops"] > 0
    assert [row["output_shape"][-1] for row in summary["layers"] if row["kind"] == "conv"] == [28, 10]
    assert results.wall_time_s > 0 and results.throughput["train_images_per_s"] > 0
    assert results.epochs == 2 and len(results.history) == 2
    assert results.data_info["sizes"]["test"] == 360
    assert results.versions["torch"] == torch.__version__.split("+")[0]
    matrix = torch.tensor(results.confusion_matrix)
    assert matrix.shape == (10, 10) and int(matrix.sum()) == 360
    assert math.isclose(float(matrix.diag().sum()) / 360, results.metrics["test/acc"], abs_tol=1e-6)


def test_metrics_csv_has_every_metric_name(default_run):
    run_dir, _ = default_run
    with open(run_dir / "metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert METRICS <= columns


def test_checkpoints_load_with_weights_only(default_run):
    run_dir, results = default_run
    # checkpoints.keep=best: a finished run keeps the best weights alone, without optimizer state
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.ckpt"]
    checkpoint = torch.load(run_dir / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True)
    assert set(checkpoint["state_dict"]) >= {"net.features.0.weight", "net.classifier.7.weight"}
    assert checkpoint["config"]["model"]["name"] == "lenet5" and "optimizer_states" not in checkpoint
    assert results.best_checkpoint.endswith("best.ckpt")


def test_top5_is_reported_with_more_than_five_classes(default_run):
    _, results = default_run  # digits: 10 classes
    assert results.metrics["test/acc_top5"] >= results.metrics["test/acc"]


def test_top5_is_left_out_with_five_classes_or_fewer(tmp_path):
    root = tmp_path / "images"
    for name, colour in {"cat": (250, 0, 0), "dog": (0, 250, 0), "owl": (0, 0, 250)}.items():
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (12 + i, 12), colour).save(root / name / f"{i}.png")
    results = train(
        tmp_path / "run",
        "data=image_folder",
        f"data.root={root}",
        "data.num_classes=3",
        "data.cache=false",
        "data.batch_size=4",
    )
    assert results.status == "ok" and "test/acc" in results.metrics
    assert "test/acc_top5" not in results.metrics


@pytest.mark.parametrize(
    ("optimizer", "scheduler"),
    [
        ("sgd", "none"),
        ("adam", "none"),
        ("adamw", "none"),
        ("sgd", "cosine"),
        ("adam", "step"),
        ("adamw", "onecycle"),
    ],
)
def test_optimizers_and_schedulers_train(tmp_path, optimizer, scheduler):
    results = train(
        tmp_path,
        f"optimizer={optimizer}",
        f"scheduler={scheduler}",
        "scheduler.factory.step_size=1" if scheduler == "step" else "seed=0",
    )
    assert results.status == "ok"
    losses = [epoch["train/loss"] for epoch in results.history]
    assert losses[-1] < losses[0]
    rates = [epoch["lr"] for epoch in results.history]
    if scheduler == "none":
        assert rates[0] == rates[-1]
    else:
        assert rates[-1] < rates[0] or scheduler == "onecycle"


def test_onecycle_steps_every_batch(tmp_path):
    results = train(tmp_path, "scheduler=onecycle", "optimizer.lr=0.01")
    first, second = (epoch["lr"] for epoch in results.history)
    assert first != second and max(first, second) <= 0.01


def test_same_seed_gives_identical_metrics_and_other_seeds_differ(tmp_path):
    # 5 batches of 1 epoch: equal or different numbers need no trained model (a preset's whole run
    # repeating to the last digit is test_presets::test_a_reference_preset_repeats_...).
    short = ("trainer.max_epochs=1", "+trainer.limit_train_batches=5")
    runs = [
        train(tmp_path / name, *short, "deterministic=true", f"seed={seed}")
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    ]
    assert runs[0].metrics == runs[1].metrics
    assert runs[0].history[0]["train/loss"] == runs[1].history[0]["train/loss"]
    assert runs[0].metrics != runs[2].metrics


def test_early_stopping_stops_the_run(tmp_path):
    results = train(
        tmp_path,
        "callbacks=early_stopping",
        "trainer.max_epochs=6",
        "callbacks.early_stopping.patience=0",
        "callbacks.early_stopping.min_delta=0.5",
    )
    assert results.status == "ok" and results.epochs < 6


def test_failed_job_is_recorded(tmp_path):
    with pytest.raises(Exception, match="training loss is nan"):
        train(tmp_path, "optimizer=sgd", "optimizer.lr=1e30", "optimizer.momentum=0.0")
    results = RunRecord.read(tmp_path)
    assert results.status == "failed"
    assert "NonFiniteLossError" in results.error and results.traceback


def test_threads_setting_is_applied(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        results = train(tmp_path, "threads=1")
        assert results.status == "ok" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_eval_batch_size_changes_no_metric(tmp_path, default_run):
    assert compose_config().data.eval_batch_size == 1000  # digits' default: val and test in one batch each
    _, big = default_run
    small = train(tmp_path / "small", "data.eval_batch_size=64")
    for key in ("val/acc", "test/acc", "test/f1_macro"):
        assert big.metrics[key] == small.metrics[key]
    for key in ("val/loss", "test/loss"):
        assert math.isclose(big.metrics[key], small.metrics[key], rel_tol=1e-5)
