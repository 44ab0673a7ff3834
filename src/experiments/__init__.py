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


def compare(paths: Any, out: Any = None, **options: Any) -> Any:
    """Compare finished runs and write the report; see :func:`experiments.api.compare` (tables as DataFrames).

    The comparison itself is the package :mod:`experiments.comparison` (``experiments compare PATH...``)."""
    from experiments.api import compare as compare_runs

    return compare_runs(paths, out, **options)
