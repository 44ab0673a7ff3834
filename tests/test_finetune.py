"""Fine-tuning from a file: a run's checkpoint or a plain state_dict as model.weights, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from experiments.models.alexnet import alexnet, network_state
from experiments.records.run_record import RunRecord

from .conftest import TINY_ALEXNET, cli_env, run_cli


@pytest.mark.slow
def test_a_runs_checkpoint_fine_tunes_alexnet_on_flowers17(tmp_path: Path, data_dir: Path) -> None:
    env = cli_env(EXPERIMENTS_DATA_DIR=str(data_dir))  # the decoded-image cache every CLI test shares
    source = tmp_path / "cifar10"
    done = run_cli(*TINY_ALEXNET, "data=cifar10", f"hydra.run.dir={source}", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    checkpoint = source / "checkpoints" / "best.ckpt"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]

    # The network's tensors come out of the checkpoint under torchvision's names.
    net = alexnet(weights=checkpoint, num_classes=17, image_size=64)
    torch.testing.assert_close(net.features[0].weight, saved["net.features.0.weight"])
    torch.testing.assert_close(net.classifier[4].weight, saved["net.classifier.4.weight"])
    assert set(network_state({"state_dict": saved})) == set(alexnet(num_classes=10).state_dict())

    # Through the CLI, on a dataset with another number of classes: the 10-class head stays fresh.
    target = tmp_path / "flowers17"
    done = run_cli(*TINY_ALEXNET, "data=flowers17", f"model.weights={checkpoint}", f"hydra.run.dir={target}",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert f"model.weights: loaded 14 tensors from {checkpoint}" in output
    assert "kept fresh: ['classifier.6.bias', 'classifier.6.weight']" in output
    assert RunRecord.read(target).status == "ok"


def test_a_checkpoint_of_another_network_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "lenet.ckpt"
    torch.save({"state_dict": {"net.conv1.weight": torch.zeros(6, 1, 5, 5)}}, path)
    with pytest.raises(ValueError, match=r"model\.weights: .*lenet\.ckpt has no tensor matching"):
        alexnet(weights=path, num_classes=10)
