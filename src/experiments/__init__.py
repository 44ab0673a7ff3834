"""Configuration-driven experiments on classic CNNs.

Importing the package is cheap: torch loads only when a job trains. From Python (a notebook):
``experiments.run([...])``, ``experiments.sweep([...])`` and ``experiments.compare([...])`` (:mod:`experiments.api`).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["compare", "run", "sweep"]


def run(overrides: Any = ()) -> Any:
    """Train and test one configuration; see :func:`experiments.api.run`."""
    from experiments.api import run as run_overrides

    return run_overrides(overrides)


def sweep(overrides: Any) -> Any:
    """Run every combination of a sweep; see :func:`experiments.api.sweep`."""
    from experiments.api import sweep as sweep_overrides

    return sweep_overrides(overrides)


def __getattr__(name: str) -> Any:
    if name == "compare":  # the subpackage, callable as experiments.compare(paths) (experiments.api.compare)
        import importlib

        return importlib.import_module("experiments.compare")
    raise AttributeError(name)
