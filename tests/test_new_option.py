"""A new pooling or activation option is one YAML file: no Python file of the package changes.

The test copies ``conf/`` to a temporary dir, adds ``pooling/median.yaml`` and
``activation/squareplus.yaml`` that name classes of a test module (:mod:`tests.median_pool`), and
trains one batch through the real stack: compose + validation, the recipe's module, the datamodule
of the default data (scikit-learn's digits, offline) and a Lightning ``Trainer``.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from experiments.config import ConfigError, compose, config_dir, config_groups
from experiments.models.layer_table import summarize
from experiments.training.recipe import build_module

from .median_pool import MedianPool2d, Squareplus


@pytest.fixture
def conf_with_new_options(tmp_path: Path) -> Path:
    root = tmp_path / "conf"
    shutil.copytree(config_dir(), root)
    (root / "pooling" / "median.yaml").write_text(
        "# The median of each window (a throwaway option of the tests).\n"
        "_target_: tests.median_pool.MedianPool2d\n_partial_: true\n"
    )
    (root / "activation" / "squareplus.yaml").write_text(
        "_target_: tests.median_pool.Squareplus\n_partial_: true\nb: 4.0\n"
    )
    return root


def test_new_options_are_offered_and_refused_outside_their_conf(conf_with_new_options):
    offered = config_groups(conf_with_new_options)["pooling"]
    assert (
        "median" in offered and "median" not in config_groups()["pooling"]
    )  # the shipped conf/ is untouched
    with pytest.raises(ConfigError) as caught:  # the refusal's wording: test_config
        compose(["pooling=mode"], root=conf_with_new_options)
    assert str(caught.value).endswith(f"choose one of {', '.join(sorted(offered))}")
    with pytest.raises(ConfigError) as caught:
        compose(["pooling=median"])
    assert caught.value.key == "pooling"


@pytest.mark.parametrize("model", ["lenet5", "lenet5_classic"])
def test_a_new_pooling_and_activation_train_one_batch(conf_with_new_options, tmp_path, model):
    cfg = compose(
        [
            f"model={model}",
            "pooling=median",
            "activation=squareplus",
            "activation.b=2.0",
            "data.batch_size=16",
            f"paths.output_dir={tmp_path / 'run'}",
        ],
        root=conf_with_new_options,
    )
    pl.seed_everything(0, verbose=False)
    module = build_module(cfg)
    net = module.net
    pools = [m for m in net.modules() if isinstance(m, MedianPool2d)]
    activations = [m for m in net.modules() if isinstance(m, Squareplus)]
    assert len(pools) == 2 and [(p.kernel_size, p.stride) for p in pools] == [(2, 2), (2, 2)]
    assert activations and all(a.b == 2.0 for a in activations)
    assert len({id(a) for a in activations}) == len(activations)  # a fresh module for each place

    # The layer table names the unknown class by the architecture's layer name (S2, S4).
    rows = {row["layer"]: row for row in summarize(net, cfg.data.channels, cfg.image_size)["layers"]}
    expected = "MedianPool2d" if model == "lenet5" else "Subsampling2d"  # classic: the pool inside S2
    assert (rows["S2"]["type"], rows["S4"]["type"], rows["S4"]["output_shape"]) == (
        expected,
        expected,
        [16, 5, 5],
    )

    before = [p.detach().clone() for p in net.parameters()]
    trainer = pl.Trainer(
        max_steps=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=instantiate(cfg.data))
    assert trainer.global_step == 1
    loss = float(trainer.callback_metrics["train/loss_step"])
    assert math.isfinite(loss) and loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_pooling_class_of_any_name_is_a_row_of_the_layer_table():
    from experiments.models.layer_table import summarize
    from experiments.models.lenet import lenet5

    class Middle(MedianPool2d):  # no "Pool" in its name
        pass

    table = summarize(lenet5(pooling=Middle), 1, 32)
    rows = {row["layer"]: row for row in table["layers"]}
    assert rows["S2"]["kind"] == rows["S4"]["kind"] == "pool" and rows["S2"]["type"] == "Middle"
