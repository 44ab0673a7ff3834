"""The :class:`Report`: everything a comparison found (runs, groups, findings, plots), typed, ready for any
writer: what passes from the analysis to the writers.

The writers: :mod:`~experiments.comparison.writers.terminal` (rich table),
:mod:`~experiments.comparison.writers.markdown` (``report.md``),
:mod:`~experiments.comparison.writers.html_page` (``report.html``) and
:mod:`~experiments.comparison.writers.csv_json` (``runs.csv``, ``summary.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from experiments.comparison.analysis.effects_results import Effects
from experiments.comparison.analysis.fair_study import FairStudy
from experiments.comparison.analysis.grouping import Group, value_of
from experiments.comparison.analysis.probe_curves import ProbeCurves
from experiments.comparison.analysis.search import Search
from experiments.comparison.analysis.settling import Settling
from experiments.comparison.analysis.test_set_groups import TestSetAnalysis
from experiments.comparison.sources.wandb_logs import wandb_url
from experiments.records.run_record import RunRecord


@dataclass
class Report:
    """Everything a comparison found, ready to be written in any format."""

    runs: list[RunRecord]
    keys: list[str]
    groups: list[Group]
    metric: str
    insights: list[str]
    command: str
    alpha: float = 0.05
    plots: dict[str, Path] = field(default_factory=dict)
    effects: Effects | None = None  # the factorial analysis (analysis.effects), where the runs form a grid
    search: Search | None = None  # where the runs are the trials of a search (analysis.search)
    settling: Settling | None = None  # rankings by epoch (analysis.settling)
    answer: list[str] = field(default_factory=list)  # the answer first (analysis.answer)
    sesoi: float | None = 0.5  # the smallest effect of interest, accuracy points; None: a raw unit, no margin
    test_set: TestSetAnalysis | None = None  # test-sampling intervals, paired tests on test images
    fair: FairStudy | None = None  # a fair study's tuning, stopping and shared setting (analysis.fair_study)
    probes: ProbeCurves | None = None  # the probes' curves and tables, where runs carry probe/... metrics

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.runs if not r.ok]

    @property
    def test_name(self) -> str:
        for group in self.groups:
            if group.comparison is not None:
                return "bootstrap" if group.comparison.test == "bootstrap" else "Welch's t-test"
        return "Welch's t-test"

    def constants(self) -> dict[str, str]:
        """Settings every run shares that differ from the defaults (overrides common to all runs)."""
        ignored = set(self.keys) | {"seed"}
        common: dict[str, str] = {}
        for key in dict.fromkeys(k for r in self.runs for k in r.override_values):
            if key in ignored or key.startswith("hydra."):
                continue
            values = {value_of(r, key) for r in self.runs}
            if len(values) == 1:
                common[key] = values.pop()
        for name in ("model", "data"):
            values = {getattr(r, name) for r in self.runs if getattr(r, name)}
            if len(values) == 1 and name not in common:
                common[name] = values.pop()
        epochs = {r.epochs for r in self.runs if r.ok and r.epochs}
        if len(epochs) == 1:
            common["epochs run"] = str(epochs.pop())
        return common

    def wandb_groups(self) -> list[str]:
        """Links to the W&B groups of online runs."""
        links = []
        for run in self.runs:
            info = run.wandb or {}
            if info.get("mode") == "online":
                url = wandb_url(info, group=True)
                if url and url not in links:
                    links.append(url)
        return links

    def offline_wandb(self) -> int:
        return sum(1 for r in self.runs if (r.wandb or {}).get("mode") == "offline")
