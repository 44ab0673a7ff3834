"""Keep secrets out of everything a run writes: configs, logs, results, checkpoints, reports.

A secret is the value of ``WANDB_API_KEY`` or of any environment variable whose name ends in
``_KEY``, ``_TOKEN`` or ``_SECRET``; wherever such a value appears in a string it becomes ``***``.

A secret typed in an override of the same kind of name (``+wandb_api_key=...``, ``logger.wandb.api_key=...``)
or set in a config under such a key is one too: it is carried in an environment variable of this process
(``EXPERIMENTS_TYPED_<n>_SECRET``), so that the processes it starts (a parallel sweep's workers, DDP ranks)
mask it as well, in configs, checkpoints' hyperparameters, logs and the ``.wandb`` file.
"""

from __future__ import annotations

import os
from typing import Any

SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")
NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "WANDB_API_KEY")
MASK = "***"
TYPED = "EXPERIMENTS_TYPED_{}_SECRET"


def secret_name(name: str) -> bool:
    """Whether a variable or config key of this name holds a secret (``api_key``, ``HF_TOKEN``, ``password``)."""
    name = str(name).upper()
    return name in NAMES or name.endswith((*SUFFIXES, "_PASSWORD"))


def typed_secrets(arguments: list[str]) -> list[str]:
    """The values of overrides whose key is a secret's name: ``+wandb_api_key=abcd`` -> ``abcd``."""
    found = []
    for argument in arguments:
        key, equals, value = str(argument).partition("=")
        name = key.lstrip("+~").rsplit(".", 1)[-1].rsplit("/", 1)[-1]
        if equals and secret_name(name) and len(value.strip("'\"")) >= 4 and value != MASK:
            found.append(value.strip("'\""))
    return found


def config_secrets(config: Any) -> list[str]:
    """Values under a secret's name in a (nested) config, and in the overrides it lists."""
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(value, str) and secret_name(key) and len(value) >= 4 and value != MASK:
                found.append(value)
            else:
                found += config_secrets(value)
    elif isinstance(config, list | tuple):
        found += typed_secrets([v for v in config if isinstance(v, str)])
        for value in config:
            if not isinstance(value, str):
                found += config_secrets(value)
    return found


def carry_secrets(values: list[str]) -> None:
    """Mask ``values`` from now on, in this process and the ones it starts (environment variables)."""
    known = set(secret_values(dict(os.environ)))
    count = sum(1 for name in os.environ if name.startswith("EXPERIMENTS_TYPED_"))
    for value in values:
        if value not in known:
            os.environ[TYPED.format(count)] = value
            known.add(value)
            count += 1


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The secrets of ``environ`` (this process's environment, with the ones typed on its command line)."""
    if environ is None:
        import sys

        carry_secrets(typed_secrets(sys.argv[1:]))  # before the command line itself is masked
        environ = os.environ
    values = {
        value
        for name, value in environ.items()
        if (name == "WANDB_API_KEY" or name.upper().endswith(SUFFIXES)) and len(value) >= 4 and value != MASK
    }
    return sorted(values, key=len, reverse=True)


def redact(value: Any, secrets: list[str] | None = None) -> Any:
    """A copy of ``value`` (nested dicts, lists, strings) with every secret replaced by ``***``."""
    secrets = secret_values() if secrets is None else secrets
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, secrets) for v in value)
    return value
