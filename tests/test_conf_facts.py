"""One place per fact in ``conf/``: the keys every model and data option shares live in its base file, and
the identical-job rule reads what a pooling or activation option states about itself.

``conf/model_base.yaml`` and ``conf/data_base.yaml`` are merged under each option (its defaults list);
an option states only its own keys, or another value. ``order_statistic: true`` (pooling) and
``monotone: true`` (activation) are facts of the option's YAML that :mod:`experiments.sweeps.identical`
reads; the builders drop them before calling the option's factory.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from experiments.config import ConfigError, compose, config_dir, config_groups
from experiments.models.option_facts import OPTION_FACTS, without_facts
from experiments.sweeps.identical import block_order_is_moot, identical_jobs

from .conftest import compose_config
from .median_pool import MedianPool2d, Squareplus

BASES = {"model": "model_base", "data": "data_base"}
OPTIONS = [(group, path.stem) for group in BASES for path in sorted((config_dir() / group).glob("*.yaml"))]
ORDERS = ("conv-act-pool", "conv-pool-act")


def restated(base: Any, option: Any, key: str = "") -> list[str]:
    """The keys under which ``option`` repeats a value ``base`` already gives (``???`` in the base: none)."""
    if base == option and base != "???":
        return [key]
    if isinstance(base, dict) and isinstance(option, dict):
        return [
            k for name in option if name in base for k in restated(base[name], option[name], f"{key}.{name}")
        ]
    return []


def open_keys(node: Any, key: str) -> set[str]:
    """The keys under ``key`` still ``???`` (mandatory, not given)."""
    if isinstance(node, dict):
        return set().union(*(open_keys(value, f"{key}.{name}") for name, value in node.items()))
    return {key} if node == "???" else set()


@pytest.mark.parametrize(("group", "option"), OPTIONS)
def test_each_option_takes_the_shared_keys_from_its_base_and_restates_none(group, option):
    base = OmegaConf.to_container(OmegaConf.load(config_dir() / f"{BASES[group]}.yaml"))
    raw = OmegaConf.to_container(OmegaConf.load(config_dir() / group / f"{option}.yaml"))
    assert raw.pop("defaults") == [f"/{BASES[group]}@_here_", "_self_"]  # the base first, the option over it
    assert raw["name"] == option  # what run records call it: the file's stem
    assert restated(base, raw, group) == []
    composed = OmegaConf.to_container(compose_config(f"{group}={option}")[group], resolve=False)
    assert set(base) <= set(composed)  # every shared key arrives from the base
    # The option states every key its base leaves open (???); data.root is the user's to give.
    assert open_keys(composed, group) == ({"data.root"} if option == "image_folder" else set())


def test_the_base_files_are_no_group_options():
    groups = config_groups()
    assert all(base not in groups[group] for group, base in BASES.items())
    assert not any(group.startswith(tuple(BASES.values())) for group in groups)
    with pytest.raises(ConfigError) as caught:  # the refusal's wording: test_config
        compose_config("model=model_base")
    assert caught.value.key == "model"


def test_a_fact_is_dropped_before_the_factory_is_called():
    factory = instantiate(OmegaConf.load(config_dir() / "activation" / "leaky_relu.yaml"))
    assert factory.keywords["monotone"] is True and OPTION_FACTS == {"order_statistic", "monotone", "keeps_size", "learned"}
    kept = without_facts(factory)
    assert kept.keywords == {"negative_slope": 0.01, "inplace": True} and kept.func is torch.nn.LeakyReLU
    assert without_facts(torch.nn.ReLU) is torch.nn.ReLU
    assert without_facts(plain := partial(torch.nn.ELU, alpha=2.0)) is plain


def test_a_fact_must_be_true_or_false():
    with pytest.raises(ConfigError, match=r"pooling.order_statistic: must be true or false; got 'yes'"):
        compose(["pooling.order_statistic=yes", "paths.output_dir=x"])


@pytest.fixture
def conf_with_median(tmp_path: Path) -> Path:
    """conf/ plus a median pooling that states it picks one value and a squareplus that states it is monotone."""
    root = tmp_path / "conf"
    shutil.copytree(config_dir(), root)
    (root / "pooling" / "median.yaml").write_text(
        "_target_: tests.median_pool.MedianPool2d\n_partial_: true\norder_statistic: true\n"
    )
    (root / "activation" / "squareplus.yaml").write_text(
        "_target_: tests.median_pool.Squareplus\n_partial_: true\nb: 4.0\nmonotone: true\n"
    )
    return root


def both_orders(root: Path, *overrides: str) -> list[Any]:
    return [
        compose([*overrides, f"model.net.block_order={o}", "paths.output_dir=x"], root=root) for o in ORDERS
    ]


def test_a_new_pooling_that_states_order_statistic_commutes_without_code(conf_with_median):
    configs = both_orders(conf_with_median, "pooling=median", "activation=squareplus")
    assert block_order_is_moot(configs[0]) and identical_jobs(configs) == {1: 0}
    images = torch.randn(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = []
    for cfg in configs:  # the facts reach no constructor, and the claim is true: the same network
        torch.manual_seed(0)
        net = instantiate(cfg.model.net).eval()
        assert any(isinstance(m, MedianPool2d) for m in net.modules())
        assert any(isinstance(m, Squareplus) for m in net.modules())
        with torch.no_grad():
            outputs.append(net(images))
    assert torch.equal(*outputs)


@pytest.mark.parametrize("fact", ["pooling.order_statistic", "activation.monotone"])
def test_without_the_stated_fact_the_block_order_counts(conf_with_median, fact):
    configs = both_orders(conf_with_median, "pooling=median", "activation=squareplus", f"{fact}=false")
    assert not block_order_is_moot(configs[0]) and identical_jobs(configs) == {}


def test_a_negative_slope_unmakes_a_monotone_leaky_relu():
    assert block_order_is_moot(compose_config("activation=leaky_relu"))
    assert not block_order_is_moot(compose_config("activation=leaky_relu", "activation.negative_slope=-0.5"))
