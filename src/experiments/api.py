"""The Python API, for notebooks: :func:`run`, :func:`sweep` and :func:`compare`, callable many times.

They take the command line's overrides and go through the same code as ``experiments``; bad input
raises :class:`experiments.config.ConfigError` before any run dir exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.records.run_record import RunRecord

if TYPE_CHECKING:
    import pandas as pd

    from experiments.comparison.report_model import Report


@dataclass(frozen=True)
class Result:
    """One finished (or failed) run, read back from its ``results.json``."""

    run_dir: Path
    record: RunRecord = field(repr=False)

    @classmethod
    def read(cls, run_dir: str | Path) -> Result:
        return cls(Path(run_dir), RunRecord.read(run_dir))

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.record.metrics)

    @property
    def error(self) -> str | None:
        return self.record.error

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch (``epoch`` is 1-based), the columns of ``results.json``'s ``history``."""
        import pandas as pd

        return pd.DataFrame(self.record.history)


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: its dir and one :class:`Result` per job, in job order."""

    sweep_dir: Path
    runs: list[Result]

    @property
    def table(self) -> pd.DataFrame:
        """One row per job: its overrides, status and main metrics."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "job": r.run_dir.name,
                    "overrides": " ".join(r.record.overrides),
                    "status": r.status,
                }
                | {k: r.metrics.get(k) for k in ("test/acc", "val/acc_best")}
                for r in self.runs
            ]
        )


def run(overrides: Sequence[str] = ()) -> Result:
    """Train and test one configuration, e.g. ``run(["model=lenet5", "trainer.max_epochs=2"])``."""
    from experiments.cli.train import run_once

    return Result.read(run_once(list(overrides)))


def sweep(overrides: Sequence[str]) -> SweepResult:
    """Run every combination, e.g. ``sweep(["pooling=max,avg", "seed=0,1"])``; failed jobs are recorded."""
    from experiments.cli.train import run_sweep

    sweep_dir = run_sweep(list(overrides))
    job_dirs = sorted((p for p in sweep_dir.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return SweepResult(sweep_dir, [Result.read(p) for p in job_dirs])


@dataclass(frozen=True)
class Comparison:
    """A comparison: the :class:`~experiments.comparison.report_model.Report`, its tables as DataFrames, its figures."""

    report: Report
    out: Path

    @property
    def groups(self) -> pd.DataFrame:
        """One row per group (the varying keys but the seed): statistics over seeds, as in ``summary.json``."""
        import pandas as pd

        saved = json.loads((self.out / "summary.json").read_text())
        rows = []
        for group in saved.get("groups", []):
            row = {"group": group.get("label"), "runs": group.get("runs"), "finished": group.get("finished")}
            for metric, stats in (group.get("stats") or {}).items():
                row.update({f"{metric} {k}": v for k, v in (stats or {}).items()})
            rows.append(row)
        return pd.DataFrame(rows)

    @property
    def runs(self) -> pd.DataFrame:
        """Every run, one row each (``runs.csv``)."""
        import pandas as pd

        return pd.read_csv(self.out / "runs.csv")

    @property
    def figures(self) -> list[Path]:
        """The report's PNG plots."""
        return sorted(self.out.glob("*.png"))


def compare(paths: Iterable[str | Path], out: str | Path | None = None, **options: Any) -> Comparison:
    """Compare finished runs (sweep dirs, run dirs, W&B logs) and write the report files into ``out``."""
    from experiments.comparison.pipeline import compare as compare_runs
    from experiments.comparison.pipeline import default_out

    found = [Path(p) for p in paths]
    target = Path(out) if out else default_out(found)
    return Comparison(compare_runs(found, target, **options), target)
