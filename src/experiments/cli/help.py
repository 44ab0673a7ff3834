"""``experiments --help``: the config groups and options read from ``conf/`` and the composed config."""

from __future__ import annotations

from omegaconf import OmegaConf

from experiments.config import config_groups
from experiments.config.compose import compose


def print_help(argv: list[str]) -> None:
    """``--help``: the groups and options read from ``conf/`` and the config these overrides compose.

    Replaces Hydra's help, which rebuilds its config repository by deep copy once per group and option
    (~0.5 s; docs/benchmarks.md). ``--hydra-help`` still prints Hydra's own flags.
    """
    overrides = [a for a in argv if not a.startswith("-")]
    lines = [
        "experiments: train and compare classic CNNs from composed config groups (Hydra + Lightning).",
        "",
        "Usage: experiments [GROUP=OPTION ...] [KEY=VALUE ...]      one run",
        "       experiments -m GROUP=A,B KEY=1,2 ...                a sweep (every combination)",
        "       experiments compare PATH...                         a report of finished runs",
        "       experiments layers [GROUP=OPTION ...]               the layer table, no training",
        "       experiments --cfg job [overrides]                   print the composed config",
        "       experiments --hydra-help                            Hydra's own flags",
        "",
        "== Config groups == (GROUP=OPTION)",
        *(f"{group}: {', '.join(options)}" for group, options in config_groups().items()),
        "",
        f"== Config == ({' '.join(overrides) or 'the defaults'}; override any key with KEY=VALUE)",
        OmegaConf.to_yaml(compose(overrides, validated=False)),
    ]
    print("\n".join(lines))
