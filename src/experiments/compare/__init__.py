"""Compare runs: from sweep dirs, run dirs and W&B runs to a table, a report and plots.

``python -m experiments.compare PATH...``; from Python, :func:`compare` does the same and returns the
:class:`~experiments.compare.report.Report`. No torch is imported.
"""

from __future__ import annotations

from experiments.compare.main import compare, main

__all__ = ["compare", "main"]
