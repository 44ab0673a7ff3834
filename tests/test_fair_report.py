"""The report of a fair study (issue #27): analysis sets (best headline, shared beside it, tuning apart), the
tuning curves and the edge of the grid, the conclusions that change at the shared setting, the stopping
summary, copies counted once, the answer first; and one tiny real fair sweep through the CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.comparison import compare
from experiments.records.record_writer import RecordWriter

ROOT = Path(__file__).resolve().parents[1]
GRID = ["0.0003", "0.001", "0.01"]
SHARED_LR = "0.001"  # the config's own learning rate: the shared setting
SEEDS = [0, 1, 2, 3]
#: Tuning curves (val/acc_best): max is best at 1e-3 (inside the grid), avg at 1e-2 (its edge).
CURVES = {"max": [0.95, 0.975, 0.96], "avg": [0.90, 0.93, 0.97]}
#: Test accuracy by (arm, lr) before a tiny seed noise: equal at each arm's own best, 2 points apart at 1e-3.
TEST = {("max", "0.001"): 0.970, ("avg", "0.01"): 0.970, ("avg", "0.001"): 0.950}
NOISE = [0.0002, -0.0003, 0.0001, 0.0]


def fair_job(sweep: Path, num: int, pooling: str, stage: str, lr: str, seed: int, metrics: dict[str, float],
             *, stopped_by: str = "patience", still_improving: bool = False, epochs: int = 5,
             identical_to: str | None = None) -> Path:
    """A job dir as the fair sweeper leaves it: ``.hydra/`` files and a record written by RecordWriter."""
    run_dir = sweep / str(num)
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"pooling={pooling}", *([f"optimizer.lr={lr}"] if stage != "shared" else []), f"seed={seed}",
                 f"study.stage={stage}", "study.tuned=[optimizer.lr]"]
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"seed": seed, "pooling": {"type": pooling}, "optimizer": {"name": "adam", "lr": float(lr)},
              "study": {"stage": stage, "tuned": ["optimizer.lr"]}, "model": {"name": "lenet5"},
              "data": {"name": "digits"}, "trainer": {"max_epochs": 8}}
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    RecordWriter(run_dir).update(
        status="ok", name=",".join(overrides), overrides=overrides, seed=seed, model="lenet5", data="digits",
        metrics=metrics, epochs=epochs, best_epoch=epochs - (0 if still_improving else 3),
        study_stage=stage, tuned_keys=["optimizer.lr"], identical_to=identical_to,
        stopping={"monitor": "val/acc", "mode": "max", "patience": 3, "min_delta": 0.0, "max_epochs": 8},
        stopped_by=stopped_by, still_improving=still_improving, params={"total": 61706, "trainable": 61706},
    )
    return run_dir


def fair_sweep(root: Path, *, plan: str | None = "good", duplicate: bool = True) -> Path:
    """A fair study of pooling=max,avg with known truth (numbering as sweeps/fair_plan.py)."""
    sweep = root / "sweep"
    num = 0
    for pooling in ("max", "avg"):
        for lr, score in zip(GRID, CURVES[pooling]):
            fair_job(sweep, num, pooling, "tune", lr, 1000, {"val/acc_best": score, "test/acc": score})
            num += 1
    chosen = {"max": "0.001", "avg": "0.01"}
    best_dirs = {}
    for pooling in ("max", "avg"):
        budget = pooling == "avg"  # avg hits the epoch budget still improving
        for seed, noise in zip(SEEDS, NOISE):
            acc = TEST[(pooling, chosen[pooling])] + (noise if pooling == "max" else -noise)  # not bit-identical
            best_dirs[(pooling, seed)] = fair_job(
                sweep, num, pooling, "best", chosen[pooling], seed, {"test/acc": acc, "val/acc_best": acc},
                stopped_by="budget" if budget else "patience", still_improving=budget, epochs=8 if budget else 6)
            num += 1
    for pooling in ("max", "avg"):
        for seed, noise in zip(SEEDS, NOISE):
            if pooling == "max":  # its choice is the shared value: the shared job reuses the best job's record
                fair_job(sweep, num, pooling, "shared", SHARED_LR, seed,
                         {"test/acc": TEST[("max", "0.001")] + noise}, epochs=6,
                         identical_to=os.path.relpath(best_dirs[(pooling, seed)], sweep / str(num)))
            else:
                fair_job(sweep, num, pooling, "shared", SHARED_LR, seed,
                         {"test/acc": TEST[("avg", "0.001")] + noise}, epochs=7)
            num += 1
    if duplicate:  # a job that reused max's seed-0 record: the same network and seed, never another seed
        fair_job(sweep, num, "max", "best", "0.001", 0, {"test/acc": TEST[("max", "0.001")] + NOISE[0]},
                 epochs=6, identical_to=os.path.relpath(best_dirs[("max", 0)], sweep / str(num)))
    if plan == "good":
        arms = [{"overrides": [f"pooling={p}"], "curve": CURVES[p], "chosen": GRID.index(chosen[p]),
                 "at_edge": p == "avg", "shared_point": 1} for p in ("max", "avg")]
        document = {"tuned_keys": ["optimizer.lr"], "grid": [[v] for v in GRID], "metric": "val/acc_best",
                    "mode": "max", "tuning_seeds": [1000], "seeds": SEEDS, "sesoi": 0.5, "arms": arms,
                    "extra_rounds": []}
        (sweep / "fair_study.json").write_text(json.dumps(document))
    elif plan is not None:
        (sweep / "fair_study.json").write_text(plan)
    return sweep


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("fair")
    sweep = fair_sweep(root)
    return compare([sweep], root / "out", plots=True, sesoi=0.5), root / "out"


def test_the_arms_are_the_swept_keys_and_the_headline_is_each_arms_own_best(report):
    result, _ = report
    assert result.keys == ["pooling"]  # not study.stage, study.tuned, optimizer.lr nor seed
    by_label = {g.label: g for g in result.groups}
    assert set(by_label) == {"pooling=max", "pooling=avg"}
    assert all(r.study_stage == "best" for g in result.groups for r in g.runs)
    assert result.fair.counts.best == 9 and result.fair.counts.shared == 8 and result.fair.counts.tune == 6


def test_a_copy_counts_once_within_a_set_and_once_in_each_set(report):
    result, _ = report
    by_label = {g.label: g for g in result.groups}
    assert by_label["pooling=max"].stats["test/acc"].n == 4  # 5 records, one a copy of seed 0
    assert result.effects.runs == 8
    assert any("copies" in note for note in result.effects.notes)
    shared = result.fair.shared_effects
    assert shared.runs == 8  # max's shared jobs reuse its best records: they count in the shared set too
    assert not any("copies" in note for note in shared.notes)


def test_tuning_curves_choices_and_the_edge_of_the_grid(report):
    result, out = report
    tuning = result.fair.tuning
    assert tuning.values == GRID and tuning.log_x
    arms = {a.arm: a for a in tuning.arms}
    assert arms["pooling=max"].chosen == "0.001" and not arms["pooling=max"].at_edge
    assert arms["pooling=avg"].chosen == "0.01" and arms["pooling=avg"].at_edge
    assert [p.score for p in arms["pooling=avg"].points] == pytest.approx(CURVES["avg"])
    assert not tuning.notes  # the records agree with fair_study.json
    md = (out / "report.md").read_text()
    assert "## Tuning: each arm's curve on validation" in md
    assert "| pooling=avg | 90.00 | 93.00 | 97.00* | 0.01 | yes |" in md
    warning = next(line for line in md.splitlines() if line.startswith("At the edge of the tuning grid"))
    assert "pooling=avg" in warning and "pooling=max" not in warning
    assert (out / "tuning_curves.png").is_file() and "tuning_curves.png" in md
    summary = json.loads((out / "summary.json").read_text())["fair_study"]
    assert summary["tuning"]["choices"]["pooling=avg"] == {"chosen": "0.01", "at_edge": True}
    assert summary["tuning"]["at_edge"] == ["pooling=avg"]


def test_a_conclusion_that_changes_at_the_shared_setting_is_said(report):
    result, out = report
    (row,) = result.fair.changes.rows
    assert row.best.verdict.verdict == "equivalent" and row.shared.verdict.verdict == "differs"
    assert row.changed and row.shared.estimate == pytest.approx(-2.0, abs=0.05)
    (sentence,) = result.fair.changes.sentences
    assert "`pooling=avg` vs `max`" in sentence and "equivalent within ±0.5" in sentence and "differs" in sentence
    md = (out / "report.md").read_text()
    assert "## Shared setting against each arm's own best" in md and sentence in md
    summary = json.loads((out / "summary.json").read_text())["fair_study"]
    assert summary["changed_conclusions"] == [sentence]


def test_the_stopping_rule_and_the_arm_still_improving_at_the_budget(report):
    result, out = report
    stopping = result.fair.stopping
    assert stopping.rule.patience == 3 and stopping.rule.max_epochs == 8
    rows = {(a.arm, a.stage): a for a in stopping.arms}
    assert rows[("pooling=avg", "best")].by_budget == 4 and rows[("pooling=avg", "best")].epochs_median == 8
    assert rows[("pooling=max", "best")].by_patience == 5 and rows[("pooling=max", "best")].epochs_median == 6
    assert list(stopping.still_improving) == ["pooling=avg"]
    md = (out / "report.md").read_text()
    warning = next(line for line in md.splitlines() if line.startswith("Hit the epoch budget still improving"))
    assert "pooling=avg" in warning and "pooling=max" not in warning
    assert "stop once `val/acc` has not improved (max) for 3 epochs, within 8 epochs" in md
    summary = json.loads((out / "summary.json").read_text())["fair_study"]
    assert summary["stopping"]["still_improving"] == {"pooling=avg": {"best": 4}}


def test_the_answer_is_at_the_tuned_setting_names_the_budget_and_comes_first(report):
    result, out = report
    assert result.answer[0].startswith("At each arm's own tuned setting (`optimizer.lr` tuned over 3 values")
    assert "1 tuning seed each" in result.answer[0]
    text = " ".join(result.answer)
    assert "Equivalent within ±0.5 points" in text and "At the shared setting 1 conclusion changes" in text
    md = (out / "report.md").read_text()
    assert md.index("## The answer") < md.index("## Groups") < md.index("## Tuning")
    page = (out / "report.html").read_text()
    assert page.index("The answer") < page.index("<h2>Groups</h2>") and "Tuning curves" in page
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [r["study_stage"] for r in rows].count("tune") == 6 and rows[0]["optimizer.lr"] == GRID[0]


@pytest.mark.parametrize("plan", [None, "{not json", "[1, 2]", '{"grid": 3, "arms": [{"chosen": 99}, 7]}'])
def test_a_missing_or_odd_fair_study_json_never_crashes(tmp_path, plan):
    sweep = fair_sweep(tmp_path, plan=plan, duplicate=False)
    result = compare([sweep], tmp_path / "out", plots=False, sesoi=0.5)
    tuning = {a.arm: a for a in result.fair.tuning.arms}
    assert tuning["pooling=avg"].chosen == "0.01" and tuning["pooling=avg"].at_edge
    assert result.fair.changes.sentences and result.answer[0].startswith("At each arm's own tuned setting")


def test_tiny_real_fair_sweep_then_compare(tmp_path):
    """The CLI end to end: the sweep ends with the answer; compare's report and terminal open with it."""
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "experiments", "-m", "hydra/sweeper=fair", "pooling=max,avg",
           "trainer.max_epochs=1", "callbacks=early_stopping", 'hydra.sweeper.tune={optimizer.lr:"0.001,0.01"}',
           "hydra.sweeper.seeds=[0,1]", "logger=csv", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "The answer: At each arm's own tuned setting (optimizer.lr tuned over 2 values" in done.stdout
    out = tmp_path / "report"
    shown = subprocess.run([sys.executable, "-m", "experiments", "compare", str(sweep), "-o", str(out)],
                           cwd=tmp_path, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stdout[-3000:] + shown.stderr[-3000:]
    assert shown.stdout.lstrip().startswith("The answer: At each arm's own tuned setting")
    assert shown.stdout.index("The answer") < shown.stdout.index("grouped by pooling")
    md = (out / "report.md").read_text()
    for title in ("## The answer", "## Tuning: each arm's curve on validation",
                  "## Shared setting against each arm's own best", "## Stopping: when each arm stopped"):
        assert title in md, title
    first_table = min(md.index(t) for t in ("## Groups", "## Differences against the best group") if t in md)
    assert md.index("## The answer") < first_table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keys"] == ["pooling"] and set(summary["fair_study"]["tuning"]["choices"]) == {
        "pooling=max", "pooling=avg"}
