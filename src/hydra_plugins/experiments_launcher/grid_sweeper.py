"""``hydra/sweeper=grid``: Hydra's basic sweeper, without composing each job a second time.

Before a grid sweep starts, ``experiments.cli.train.run_sweep`` composes and validates every job
(``experiments.sweeps.grid.check_sweep``) and then runs it with ``hydra/sweeper=grid
hydra.sweeper.jobs_checked=true``, unless the command line chose a sweeper. Hydra's
basic sweeper would compose every job again to catch the same errors early (~0.16 s a job, on top of the
launcher's own composition); with ``jobs_checked`` it leaves that out and is otherwise the basic sweeper.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class GridSweeper(BasicSweeper):
    """Every combination of the swept values, in Hydra's order; no second composition of checked jobs."""

    def __init__(
        self,
        max_batch_size: int | None = None,
        params: dict[str, str] | None = None,
        jobs_checked: bool = False,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.jobs_checked = jobs_checked

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        if not self.jobs_checked:
            super().validate_batch_is_legal(batch)
