"""What a run leaves behind: ``results.json``, its identity, redaction, per-run plots, the offline W&B reader."""
