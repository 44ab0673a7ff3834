"""The report's files: ``report.md``, ``report.html``, ``runs.csv``, ``summary.json``, the PNG plots, and
the terminal table, each written from the typed :class:`~experiments.comparison.report_model.Report`."""
