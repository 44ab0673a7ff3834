"""``runs.csv`` (one row per run) and ``summary.json`` (group statistics, comparisons, findings)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

from experiments.comparison.analysis.seed_stats import SeedStats
from experiments.comparison.report_model import Report
from experiments.comparison.writers.formatting import mark
from experiments.comparison.writers.tables import runs_table


def write_csv(report: Report, path: Path) -> Path:
    from experiments.records.atomic import atomic_open

    header, rows = runs_table(report)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def _stats_dict(s: SeedStats | None) -> dict[str, float | int | None] | None:
    if s is None:
        return None
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(s).items()}
    return clean


def _plain(value: object) -> object:
    """NaN and infinity as null (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def summary_command(out: Path) -> str:
    """The ``command`` an earlier ``summary.json`` in ``out`` records ("" where there is none or it is not ours)."""
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(summary.get("command", "")) if isinstance(summary, dict) else ""


def write_json(report: Report, path: Path) -> Path:
    groups = []
    for g in report.groups:
        c = g.comparison
        groups.append(
            {
                "label": g.label,
                "key": dict(g.key),
                "runs": len(g.runs),
                "finished": len(g.ok_runs),
                "best": g.is_best,
                "copy_of": g.copy_of,
                "mark": mark(g),
                "stats": {k: _stats_dict(v) for k, v in g.stats.items()},
                "comparison": None
                if c is None
                else {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in vars(c).items()},
                "params": g.first("params_total"),
                "flops": g.first("flops"),
                "train_images_per_s": _stats_dict(g.attribute("images_per_s")),
                "wall_time_s": _stats_dict(g.attribute("wall_time_s")),
                "best_epochs": [r.best_epoch for r in g.ok_runs],
                "run_paths": [r.path for r in g.runs],
            }
        )
    data = {
        "metric": report.metric,
        "keys": report.keys,
        "test": report.test_name,
        "alpha": report.alpha,
        "groups": groups,
        "effects": None if report.effects is None else report.effects.to_json(),
        "ranking_by_epoch": None if report.settling is None else report.settling.to_json(),
        "search": None if report.search is None else search_json(report),
        "failed": [
            {"name": r.name, "status": r.status, "error": r.error, "path": r.path} for r in report.failed
        ],
        "answer": report.answer,
        "fair_study": None if report.fair is None else fair_json(report),
        "test_set": None if report.test_set is None else _plain(dataclasses.asdict(report.test_set)),
        "sesoi": report.sesoi,
        "probes": None if report.probes is None else _plain(dataclasses.asdict(report.probes)),
        "insights": report.insights,
        "plots": {k: p.name for k, p in report.plots.items()},
        "confusion_run": confusion_run(report),
        "wandb_groups": report.wandb_groups(),
        "command": report.command,
    }
    from experiments.records.atomic import write_atomic

    write_atomic(path, json.dumps(data, indent=2))
    return path


def search_json(report: Report) -> dict[str, object]:
    """A search's objective and its trials, best first, with the searched values as recorded."""
    from experiments.comparison.analysis.grouping import value_of
    from experiments.comparison.analysis.search import trial_id

    search = report.search
    assert search is not None
    best = search.best
    trials = [
        {
            "trial": trial_id(r),
            "status": r.status,
            "settings": {k: value_of(r, k) for k in search.keys},
            "objective": search.score(r),
            report.metric: r.metric(report.metric),
            "path": r.path,
        }
        for r in search.ranked
    ]
    return {
        "objective": search.objective,
        "direction": search.direction,
        "keys": search.keys,
        "best_trial": None if best is None else trial_id(best),
        "study": search.study,
        "trials": trials,
    }


def confusion_run(report: Report) -> dict[str, str] | None:
    """The run whose confusion matrix the report shows, and the validation metric that chose it."""
    from experiments.comparison.writers.group_plots import confusion_choice

    choice = confusion_choice(report.groups) if "confusion" in report.plots else None
    return (
        None if choice is None else {"name": choice[0].name, "path": choice[0].path, "chosen_by": choice[1]}
    )


def fair_json(report: Report) -> dict[str, object]:
    """A fair study's tuning choices, stopping summary, changed conclusions and its shared-setting effects."""
    from experiments.comparison.analysis.effects_results import to_json

    study = report.fair
    assert study is not None
    tuning = study.tuning
    return {
        "arms_keys": study.keys,
        "tuned_keys": study.tuned_keys,
        "budget": study.budget(),
        "records": to_json(study.counts),
        "tuning": None if tuning is None else {
            "metric": tuning.metric,
            "mode": tuning.mode,
            "grid": tuning.values,
            "tuning_seeds": tuning.tuning_seeds,
            "choices": {a.arm: {"chosen": a.chosen, "at_edge": a.at_edge} for a in tuning.arms},
            "curves": {a.arm: to_json(a.points) for a in tuning.arms},
            "at_edge": [a.arm for a in tuning.edge_arms],
        },
        "stopping": None if study.stopping is None else to_json(study.stopping),
        "changed_conclusions": study.changes.sentences,
        "shared_vs_best": to_json(study.changes.rows),
        "shared_effects": None if study.shared_effects is None else study.shared_effects.to_json(),
        "warnings": study.warnings(),
        "notes": study.notes,
    }
