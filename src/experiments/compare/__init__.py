"""Compare runs: from sweep dirs, run dirs and W&B runs to a table, a report and plots.

``experiments compare PATH...``; from Python, :func:`compare` does the same and returns the
:class:`~experiments.compare.report.Report`, and the module itself is callable for notebooks:
``experiments.compare(paths)`` is :func:`experiments.api.compare` (tables as DataFrames). No torch is imported.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from experiments.compare.main import compare, main

__all__ = ["compare", "main"]


class _CallableModule(types.ModuleType):
    """``experiments.compare(paths)`` from a notebook: the comparison with its tables as DataFrames."""

    def __call__(self, paths: Any, out: Any = None, **options: Any) -> Any:
        from experiments.api import compare as compare_runs

        return compare_runs(paths, out, **options)


sys.modules[__name__].__class__ = _CallableModule
