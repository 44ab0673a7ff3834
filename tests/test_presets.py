"""The seed experiments as presets: each composes, validates, builds its network and runs one short epoch."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from hydra.utils import instantiate
from omegaconf import open_dict

from experiments.config import validate
from experiments.records.run_record import RunRecord

from .conftest import compose_config, run_cli

PRESETS = {
    "lenet5_mnist_keras": "mnist",
    "lenet5_mnist_best": "mnist",
    "lenet5_classic_mnist": "mnist",
    "lenet5_classic_mnist_sdlm": "mnist",
    "lenet5_cifar10_tanh_avg": "cifar10",
    "alexnet_cifar10_finetune": "cifar10",
    "alexnet_flowers17_bn": "flowers17",
    "alexnet_flowers17_paper": "flowers17",
}
# Small inputs where the model allows (the smallest AlexNet inputs are 63 and 67 pixels); one size for
# both flowers17 presets, so the second reuses the first one's decoded-image cache (the one all CLI tests share).
SMALL_SIZE = {"alexnet_cifar10_finetune": 64, "alexnet_flowers17_bn": 67, "alexnet_flowers17_paper": 67}
SHORT = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.num_sanity_val_steps=0",
    "logger=csv",
]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_composes_validates_and_builds(preset):
    cfg = compose_config(f"experiment={preset}")
    validate(cfg)
    assert cfg.data.name == PRESETS[preset]
    net_cfg = cfg.model.net.copy()
    if "weights" in net_cfg:
        with open_dict(net_cfg):
            net_cfg.weights = None
    net = instantiate(net_cfg)
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, cfg.data.channels, cfg.image_size, cfg.image_size))
    assert out.shape == (1, cfg.data.num_classes)


def test_preset_settings_are_the_seeds():
    keras = compose_config("experiment=lenet5_mnist_keras")
    assert (keras.model.name, keras.activation._target_, keras.pooling._target_) == (
        "lenet5",
        "torch.nn.ReLU",
        "torch.nn.MaxPool2d",
    )
    assert keras.optimizer._target_ == "torch.optim.Adam" and keras.data.batch_size == 64
    assert keras.trainer.max_epochs == 10 and keras.image_size == 32 and keras.data.fit == "pad"
    classic = compose_config("experiment=lenet5_classic_mnist")
    assert (classic.model.name, classic.activation._target_, classic.pooling._target_) == (
        "lenet5_classic",
        "experiments.models.layers.ScaledTanh",
        "torch.nn.AvgPool2d",
    )
    assert classic.trainer.max_epochs == 20 and classic.model.loss.criterion == "map"
    assert classic.scheduler.factory.milestones == [2, 5, 8, 12]
    bn = compose_config("experiment=alexnet_flowers17_bn")
    assert (bn.model.name, bn.image_size, bn.data.batch_size) == ("alexnet_bn", 224, 64)
    assert bn.optimizer._target_ == "torch.optim.Adam"
    paper = compose_config("experiment=alexnet_flowers17_paper")
    assert (paper.model.name, paper.image_size, paper.model.net.norm) == ("alexnet_paper", 227, "lrn")


def test_cifar_presets_settings():
    tanh_avg = compose_config("experiment=lenet5_cifar10_tanh_avg")
    assert (tanh_avg.activation._target_, tanh_avg.pooling._target_, tanh_avg.data.batch_size) == (
        "torch.nn.Tanh",
        "torch.nn.AvgPool2d",
        128,
    )
    finetune = compose_config("experiment=alexnet_cifar10_finetune", "model.weights=/some/file.pth")
    assert finetune.model.net.weights == "/some/file.pth" and finetune.image_size == 224
    assert finetune.optimizer.lr == 0.001 and finetune.optimizer.momentum == 0.9
    assert finetune.trainer.max_epochs == 10


def write_fake_cifar10(root: Path, per_batch: int = 40) -> None:
    """A tiny CIFAR-10 in the Python-pickle layout (read with ``data.verify=false``)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in (
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ):
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [f"class_{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def data_overrides(preset: str, tmp_path: Path) -> list[str]:
    """Where the preset's data comes from: the shared real data, or a generated CIFAR-10."""
    if PRESETS[preset] == "cifar10":
        write_fake_cifar10(tmp_path / "data" / "cifar10")
        return [f"paths.data_dir={tmp_path / 'data'}", "data.verify=false"]
    value = os.environ.get("EXPERIMENTS_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip(
            f"EXPERIMENTS_DATA_DIR is not set to a directory: real {PRESETS[preset]} files are needed"
        )
    return [f"paths.data_dir={value}"]


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_preset_runs_one_short_epoch(preset, tmp_path):
    overrides = [f"experiment={preset}", *data_overrides(preset, tmp_path), *SHORT]
    if preset in SMALL_SIZE:  # AlexNet: no checkpoints either (~700 MB each with Adam's state; none is read)
        overrides += [f"image_size={SMALL_SIZE[preset]}", "callbacks.checkpoint=null"]
    if preset == "alexnet_cifar10_finetune":
        weights = tmp_path / "alexnet.pth"
        torch.save(torchvision.models.alexnet().state_dict(), weights)
        overrides.append(f"model.weights={weights}")
    done = run_cli(*overrides, cwd=tmp_path)  # the decoded-image cache every CLI test shares
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    results = RunRecord.read(next(d for d in tmp_path.glob("outputs/runs/*/*") if RunRecord.exists(d)))
    assert results.status == "ok"
    assert results.model == compose_config(f"experiment={preset}").model.name
    if preset == "alexnet_cifar10_finetune":
        assert "loaded 14 tensors" in done.stdout  # all but fc8 (1000 -> 10 classes)


@pytest.mark.slow
def test_a_reference_preset_repeats_to_the_last_digit_with_deterministic(tmp_path):
    """``deterministic=true``, same seed: the same test accuracy and losses, bit for bit, on this CPU."""
    preset = "lenet5_mnist_best"  # augmentation, weight decay and a schedule: every source of randomness
    overrides = [f"experiment={preset}", *data_overrides(preset, tmp_path), "deterministic=true", "seed=3"]
    overrides += ["trainer.max_epochs=2", "+trainer.limit_train_batches=20", "+trainer.limit_test_batches=4"]
    records = []
    for attempt in ("first", "second"):
        run_dir = tmp_path / attempt
        done = run_cli(*overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
        records.append(RunRecord.read(run_dir))
    first, second = records
    assert first.metrics["test/acc"] > 0.5  # it learnt something: equal numbers are not two zeros
    assert first.metrics == second.metrics
    assert [e["train/loss"] for e in first.history] == [e["train/loss"] for e in second.history]
