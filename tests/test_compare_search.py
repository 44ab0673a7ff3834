"""Optuna trials in the compare report: one row per trial ranked by the study's (validation) objective,
not one group per sampled float; a real 3-trial study end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.comparison import compare
from experiments.comparison.analysis.search import find_search, fmt_value
from experiments.comparison.sources.collect import collect
from experiments.records.run_record import RunRecord

from .conftest import cli_env
from .test_compare import write_run

ROOT = Path(__file__).resolve().parents[1]
TRIALS = [  # lr, activation, test acc, best val acc: trial 3 has the best test acc, trial 1 the best val acc
    (0.0012520653814999472, "tanh", 0.86, 0.89),
    (0.006074996073425695, "gelu", 0.92, 0.96),
    (0.00013869861245357332, "gelu", 0.10, 0.10),
    (0.0031, "relu", 0.94, 0.93),
]


def optuna_sweep(root: Path, flagged: bool = True) -> Path:
    for num, (lr, activation, acc, val) in enumerate(TRIALS):
        overrides = {"optimizer.lr": lr, "activation": activation, "seed": 0}
        if flagged:
            overrides["hparams_search"] = "optuna"
        run_dir = write_run(root, num, overrides, acc, config={"optimized_metric": "val/acc"})
        results = json.loads(RunRecord.file(run_dir).read_text())
        results["metrics"]["val/acc_best"] = val
        RunRecord.file(run_dir).write_text(json.dumps(results))
    if flagged:
        (root / "optimization_results.yaml").write_text("name: optuna\nbest_value: 0.96\n")
    return root


def test_trials_are_rows_ranked_by_the_objective(tmp_path):
    report = compare([optuna_sweep(tmp_path / "sweep")], tmp_path / "out")
    search = report.search
    assert search is not None and search.objective == "val/acc_best" and search.direction == "maximize"
    assert report.keys == ["optimizer.lr", "activation"]  # searched, not grouped by
    assert [g.label for g in report.groups] == ["trial=0", "trial=1", "trial=2", "trial=3"]
    best = next(g for g in report.groups if g.is_best)
    assert best.label == "trial=1"  # the best validation score, not trial 3's best test score
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Trials" in md and "## Groups" not in md and "Differences against the best" not in md
    table = md[md.index("## Trials") : md.index("## Runs that did not finish")].splitlines()
    rows = [line for line in table if line.startswith("| ")][1:]  # below the header
    assert [r.split("|")[1].strip() for r in rows] == ["1", "3", "0", "2"]  # best first by val acc
    assert "| 1 | ★ | 0.006075 | gelu | 96.00 | 92.00 |" in md
    assert "Trial 1 ranks first by best val acc: 96.00%" in md and "Trial 2 collapsed" in md
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["search"]["best_trial"] == "1" and summary["search"]["objective"] == "val/acc_best"
    assert summary["search"]["trials"][0]["settings"]["optimizer.lr"] == "0.006074996073425695"
    assert {"history", "settings", "confusion", "curves"} <= set(report.plots)
    assert summary["confusion_run"]["name"].startswith("optimizer.lr=0.006074996073425695")


def test_a_setting_sampled_anew_in_every_run_is_a_search_without_the_flag(tmp_path):
    runs = collect([optuna_sweep(tmp_path / "sweep", flagged=False)])
    search = find_search(runs)
    assert search is not None and search.keys == ["optimizer.lr", "activation"]


def test_a_grid_with_repeated_levels_is_not_a_search(tmp_path):
    for num, (lr, seed) in enumerate([(lr, s) for lr in (0.001, 0.01) for s in (0, 1)]):
        write_run(tmp_path / "sweep", num, {"optimizer.lr": lr, "seed": seed}, 0.9 + num / 100)
    report = compare([tmp_path / "sweep"], tmp_path / "out", plots=False)
    assert report.search is None and [g.label for g in report.groups] == [
        "optimizer.lr=0.001",
        "optimizer.lr=0.01",
    ]


def test_searched_values_are_shown_short():
    assert fmt_value("0.00013869861245357332") == "0.0001387" and fmt_value("128") == "128"
    assert fmt_value("gelu") == "gelu"


@pytest.mark.slow
def test_a_real_optuna_study_compares_trial_by_trial(tmp_path, optuna_study):
    """The compare CLI on the sweep dir of a real ``hparams_search=optuna`` run (3 trials, conftest)."""
    sweep = optuna_study.first_sweep  # only read: the report goes to tmp_path
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "compare", str(sweep), "-o", str(tmp_path / "out")],
        cwd=ROOT,
        env=cli_env(COLUMNS="100"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # The keys whose sampled values differ between the trials, in the search space's order (the sampler
    # is unseeded, so three trials may draw one batch size or one activation for all).
    drawn = [yaml.safe_load((sweep / str(n) / ".hydra" / "overrides.yaml").read_text()) for n in range(3)]
    space = ["optimizer.lr", "data.batch_size", "activation"]
    varying = [k for k in space if len({o for d in drawn for o in d if o.startswith(k + "=")}) > 1]
    assert "optimizer.lr" in varying and summary["search"]["keys"] == varying
    assert f"3 trials of a search over {', '.join(varying)}" in done.stdout
    assert len(summary["search"]["trials"]) == 3 and summary["search"]["objective"] == "val/acc_best"
    scores = [t["objective"] for t in summary["search"]["trials"]]
    assert scores == sorted(scores, reverse=True)
    study = summary["search"]["study"]  # the sweeper's own record agrees with the best trial
    assert study["best_value"] == pytest.approx(scores[0])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Trials" in md and md.count(" | ok |") == 3
