"""The command line: ``python -m experiments [overrides]`` (Hydra). Torch loads only once a job trains."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from experiments.config import ConfigError, config_dir, validate

log = logging.getLogger("experiments")


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def train(cfg: DictConfig) -> float | None:
    """One job: validate the config, then train, test and write ``results.json`` in the run dir."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        validate(cfg)
    except ConfigError as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        print(f"Config error: {error}", file=sys.stderr)
        sys.exit(2)
    from experiments.run import run_job

    return run_job(cfg)


def main() -> None:
    train()


if __name__ == "__main__":
    main()
