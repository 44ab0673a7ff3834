"""Compare runs: from sweep dirs, run dirs and W&B runs to a table, a report and plots.

A house with rooms, passing typed results: ``sources`` turn every source into
:class:`~experiments.records.run_record.RunRecord`s, ``analysis`` turns them into dataclasses (groups,
effects, rankings, a search), :class:`~experiments.comparison.report_model.Report` holds them, and
``writers`` write it (Markdown, HTML, CSV, JSON, PNG, the terminal); :mod:`~experiments.comparison.pipeline`
wires them. ``experiments compare PATH...`` runs it; from Python, :func:`compare` does the same and returns
the Report, and ``experiments.compare(paths)`` (:func:`experiments.api.compare`) gives its tables as
DataFrames. No torch is imported.
"""

from __future__ import annotations

from experiments.comparison.command_line import main
from experiments.comparison.pipeline import compare

__all__ = ["compare", "main"]
