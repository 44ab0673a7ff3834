"""``experiments layers model=alexnet data=flowers17``: the layer table, with no training.

Composes the same config as a run (any override works), validates it (so a too-small input names the
layer that empties and the smallest size that works), builds only the network and prints per-layer
output shapes, parameters, FLOPs and receptive fields. No data is read and no weights are loaded.
``--json`` prints the :func:`experiments.models.layer_table.summarize` dict instead of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.config import ConfigError, compose

_TOTALS: dict[str, dict[str, Any]] = {}


def network_totals(cfg: DictConfig) -> dict[str, Any]:
    """The layer table's totals (``params``, ``flops`` per image) of ``cfg``'s network, built once per distinct
    network in this process (the dry run's sizes, time and disk estimates share them)."""
    key = json.dumps(
        [OmegaConf.to_container(cfg.model.net, resolve=True), cfg.data.channels, cfg.image_size], default=str
    )
    if key not in _TOTALS:
        _TOTALS[key] = layer_table_of(cfg)["totals"]
    return _TOTALS[key]


def layer_table_of(cfg: DictConfig) -> dict[str, Any]:
    """Build the network of a validated ``cfg`` (no weights file read) and tabulate its layers."""
    from hydra.utils import instantiate

    from experiments.models.layer_table import summarize

    net_cfg = cfg.model.net.copy()
    if "weights" in net_cfg:
        with open_dict(net_cfg):
            net_cfg.weights = None
    result = summarize(instantiate(net_cfg), cfg.data.channels, cfg.image_size)
    result["model"] = cfg.model.name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="experiments layers", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=alexnet data=flowers17")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = compose(args.overrides)
    except ConfigError as error:
        print(f"Config error: {error}", file=sys.stderr)
        return 2
    result = layer_table_of(cfg)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from experiments.models.layer_table import format_table

        print(f"model={cfg.model.name} data={cfg.data.name} image_size={cfg.image_size}\n")
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
