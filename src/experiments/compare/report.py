"""The :class:`Report`: everything a comparison found (runs, groups, findings, plots), ready for any writer.

The writers: :mod:`~experiments.compare.terminal` (rich table), :mod:`~experiments.compare.markdown`
(``report.md``), :mod:`~experiments.compare.html_report` (``report.html``) and
:mod:`~experiments.compare.csv_json` (``runs.csv``, ``summary.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.compare.runs import Run
from experiments.compare.stats import Group, value_of
from experiments.compare.wandb_logs import wandb_url


@dataclass
class Report:
    """Everything a comparison found, ready to be written in any format."""

    runs: list[Run]
    keys: list[str]
    groups: list[Group]
    metric: str
    insights: list[str]
    command: str
    alpha: float = 0.05
    plots: dict[str, Path] = field(default_factory=dict)
    effects: dict[str, Any] | None = (
        None  # the factorial analysis (compare.effects), where the runs form a grid
    )
    search: Any = None  # a compare.search.Search where the runs are the trials of a search
    settling: dict[str, Any] | None = None  # rankings by epoch (compare.settling)

    @property
    def failed(self) -> list[Run]:
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
        for key in dict.fromkeys(k for r in self.runs for k in r.overrides):
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
