"""Keep secrets out of everything a run writes: configs, logs, results, checkpoints, reports.

A secret is the value of ``WANDB_API_KEY`` or of any environment variable whose name ends in
``_KEY``, ``_TOKEN`` or ``_SECRET``; wherever such a value appears in a string it becomes ``***``.
"""

from __future__ import annotations

import os
from typing import Any

SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")
MASK = "***"


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    values = {
        value
        for name, value in environ.items()
        if (name == "WANDB_API_KEY" or name.upper().endswith(SUFFIXES)) and len(value) >= 4
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
