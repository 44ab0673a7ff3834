"""Jobs of a sweep that are mathematically the same network and data as an earlier job of it.

A monotone non-decreasing activation commutes with a pool that picks one value of its window
(``relu(max(x)) = max(relu(x))``), so where the pool directly follows the activation,
``block_order=conv-act-pool`` and ``conv-pool-act`` build the same function; jobs that differ only
there (or in option names for equal values, such as ``padding=same`` and ``padding=zeros``, or
constant padding with the value 0, which is zero padding) are the same experiment. The options say
which they are: ``order_statistic: true`` in ``conf/pooling/<name>.yaml`` (max, min),
``monotone: true`` in ``conf/activation/<name>.yaml`` (relu, tanh, ...; leaky_relu only while its
``negative_slope`` >= 0) and ``pool_follows_activation: true`` in ``conf/model/<name>.yaml``. Avg and
Lp pooling, gelu and silu, and a layer between activation and pool (LRN, trainable subsampling) state
none of them, which breaks the identity.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.models.option_facts import MONOTONE, ORDER_STATISTIC

# Keys that name where a job writes, not what it computes.
NOT_THE_EXPERIMENT = ("paths", "hydra", "tags", "sweep", "resume", "study", "compare")


def block_order_is_moot(cfg: DictConfig) -> bool:
    """Whether both block orders build the same network for this job's pooling, activation and model."""
    picks_one = OmegaConf.select(cfg, f"pooling.{ORDER_STATISTIC}", default=False) is True
    monotone = OmegaConf.select(cfg, f"activation.{MONOTONE}", default=False) is True
    slope = OmegaConf.select(cfg, "activation.negative_slope", default=0.0) or 0.0
    follows = OmegaConf.select(cfg, "model.pool_follows_activation", default=False) is True
    return follows and picks_one and monotone and slope >= 0


def _canonical_padding(padding: Any) -> Any:
    """Constant padding with the value 0 is zero padding."""
    if (
        isinstance(padding, dict)
        and padding.get("mode") == "constant"
        and not float(padding.get("value") or 0)
    ):
        return {**padding, "mode": "zeros", "value": 0.0}
    return padding


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
    plain["padding"] = _canonical_padding(plain.get("padding"))
    net = plain["model"].get("net")
    if isinstance(net, dict) and "padding" in net:
        net["padding"] = _canonical_padding(net["padding"])
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


# A reused record keeps what the earlier job measured; these describe the job itself.
OWN_FIELDS = (
    "name", "overrides", "swept", "choices", "seed", "run_dir", "started_at", "schema_version", "study_stage", "tuned_keys",
)


def reuse_earlier_job(
    run_dir: Path, earlier_dir: Path, identity: dict[str, Any], timeout: float = 86_400
) -> bool:
    """Record this job as the experiment ``earlier_dir`` already ran; False (run it) if that job did not end ok.

    In a parallel sweep the earlier job may still be training: wait for its final record.
    """
    from experiments.records.record_writer import RecordWriter
    from experiments.records.run_record import RunRecord

    deadline = time.monotonic() + timeout
    while True:
        earlier = RunRecord.read(earlier_dir)
        if earlier.ended or time.monotonic() > deadline:
            break
        time.sleep(2.0)
    if not earlier.ok:
        return False
    fields = {k: v for k, v in earlier.to_json().items() if k not in OWN_FIELDS and k not in earlier.extra}
    record = fields | {"extra": earlier.extra} | identity
    record |= {
        "identical_to": f"../{earlier_dir.name}",
        "note": (
            f"the same experiment as job {earlier_dir.name} (max or min pooling commutes with a monotone "
            "activation, so both block orders build the same network; or equal values under other option "
            "names, such as constant padding with the value 0 and zero padding; or, in a fair study, an arm whose "
            "chosen setting is the shared one): its record is reused, nothing was trained again"
        ),
        "plots": [f"../{earlier_dir.name}/{p}" for p in earlier.plots],
        "best_checkpoint": None,
    }
    RecordWriter(run_dir).update(**record)
    return True
