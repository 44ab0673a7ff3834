"""``python -m experiments.summary model=alexnet data=flowers17``: the layer table, with no training.

Composes the same config as a run (any override works), validates it (so a too-small input names the
layer that empties and the smallest size that works), builds only the network and prints per-layer
output shapes, parameters, FLOPs and receptive fields. No data is read and no weights are loaded.
``--json`` prints the :func:`experiments.models.summary.summarize` dict instead of the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from experiments.config import ConfigError, config_dir, validate


def load_config(overrides: list[str]) -> DictConfig:
    """The composed config for ``overrides`` (``model=... data=...``), as a run would see it."""
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def summarize_config(cfg: DictConfig) -> dict[str, Any]:
    """Validate ``cfg``, build its network (no weights file read) and summarise it."""
    from hydra.utils import instantiate

    from experiments.models.summary import summarize

    validate(cfg)
    net_cfg = cfg.model.net.copy()
    if "weights" in net_cfg:
        with open_dict(net_cfg):
            net_cfg.weights = None
    net = instantiate(net_cfg)
    result = summarize(net, cfg.data.channels, cfg.image_size)
    result["model"] = cfg.model.name
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.summary", description=__doc__.splitlines()[0]
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=alexnet data=flowers17")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.overrides)
        result = summarize_config(cfg)
    except ConfigError as error:
        print(f"Config error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from experiments.models.summary import format_table

        print(f"model={cfg.model.name} data={cfg.data.name} image_size={cfg.image_size}\n")
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
