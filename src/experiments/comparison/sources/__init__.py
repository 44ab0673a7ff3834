"""Where runs come from: run dirs (``results.json`` through :class:`~experiments.records.run_record.RunRecord`),
W&B's local logs and the W&B API, each yielding RunRecords; :func:`~.collect.collect` walks the paths.

Nothing here imports the analysis or the writers.
"""
