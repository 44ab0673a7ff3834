"""Jobs of a sweep that are mathematically the same network and data as an earlier job of it.

A monotone non-decreasing activation commutes with max and min pooling (``relu(max(x)) = max(relu(x))``),
so where the pool directly follows the activation, ``block_order=conv-act-pool`` and ``conv-pool-act``
build the same function; jobs that differ only there (or in option names for equal values, such as
``padding=same`` and ``padding=zeros``) are the same experiment. Avg and Lp pooling, gelu and silu,
and a layer between activation and pool (LRN, trainable subsampling) break the identity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

# Pooling operators that pick one value of their window (an order statistic).
ORDER_STATISTIC_POOLS = frozenset({"torch.nn.MaxPool2d", "experiments.models.layers.MinPool2d"})
# Activations that never decrease: relu, leaky_relu (slope >= 0), elu, tanh, scaled tanh, sigmoid.
MONOTONE_ACTIVATIONS = frozenset(
    {
        "torch.nn.ReLU",
        "torch.nn.LeakyReLU",
        "torch.nn.ELU",
        "torch.nn.Tanh",
        "torch.nn.Sigmoid",
        "experiments.models.layers.ScaledTanh",
    }
)
# Keys that name where a job writes, not what it computes.
NOT_THE_EXPERIMENT = ("paths", "hydra", "tags", "sweep", "resume")


def block_order_is_moot(cfg: DictConfig) -> bool:
    """Whether both block orders build the same network for this job's pooling, activation and model."""
    pooling = OmegaConf.select(cfg, "pooling._target_", default=None)
    activation = OmegaConf.select(cfg, "activation._target_", default=None)
    slope = OmegaConf.select(cfg, "activation.negative_slope", default=0.0) or 0.0
    follows = bool(OmegaConf.select(cfg, "model.pool_follows_activation", default=False))
    return follows and pooling in ORDER_STATISTIC_POOLS and activation in MONOTONE_ACTIVATIONS and slope >= 0


def experiment_of(cfg: DictConfig) -> str:
    """The job's config as one canonical string: what it computes, not where it writes or what it is called."""
    cfg = cfg.copy()
    OmegaConf.update(cfg, "paths.output_dir", "<run dir>", force_add=True)
    plain = OmegaConf.to_container(cfg, resolve=True)
    for key in NOT_THE_EXPERIMENT:
        plain.pop(key, None)
    if block_order_is_moot(cfg):
        plain["model"]["net"]["block_order"] = "conv-act-pool"
    plain["model"].pop("name", None)
    return json.dumps(plain, sort_keys=True, default=str)


def identical_jobs(configs: Sequence[DictConfig | None]) -> dict[int, int]:
    """``{job: earlier job}`` for every job whose experiment an earlier job of the sweep already is."""
    first: dict[str, int] = {}
    same: dict[int, int] = {}
    for number, cfg in enumerate(configs):
        if cfg is None:
            continue
        key = experiment_of(cfg)
        if key in first:
            same[number] = first[key]
        else:
            first[key] = number
    return same
