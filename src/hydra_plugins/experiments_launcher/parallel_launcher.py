"""``hydra/launcher=parallel``: Hydra's joblib launcher with one key of ours, ``jobs_per_device``.

Hydra takes launchers only from the ``hydra_plugins`` namespace package, hence this package beside
``experiments``. joblib's launcher passes every key to ``joblib.Parallel``, so ours is taken off here; each
job reads it back from ``hydra.launcher`` (``experiments.sweeps.slots.jobs_per_device``), and the sweep's
up-front check (``experiments.sweeps.grid.check_launcher``) refuses a bad value before any job starts.
"""

from __future__ import annotations

from typing import Any

from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher


class ParallelLauncher(JoblibLauncher):
    """Jobs side by side in processes; up to ``jobs_per_device`` of them share one GPU."""

    def __init__(self, jobs_per_device: int = 1, **joblib: Any) -> None:
        super().__init__(**joblib)
        self.jobs_per_device = jobs_per_device
