"""``experiments.compare``: collecting runs, statistics over seeds, insights, report files and plots.

The fast tests build run dirs from hand-written ``results.json`` files; the slow one runs a real sweep
(digits, 2 poolings x 2 seeds, 1 epoch) and the compare CLI in subprocesses.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from experiments.comparison import compare
from experiments.comparison.analysis.grouping import group_runs, varying_keys
from experiments.comparison.analysis.insights import insights
from experiments.comparison.analysis.seed_stats import bootstrap, holm, seed_stats, welch
from experiments.comparison.sources.collect import collect
from experiments.comparison.sources.wandb_logs import read_wandb_file, wandb_url
from experiments.records.run_record import RunRecord, parse_overrides
from experiments.records.wandb_offline import records as wandb_records

ROOT = Path(__file__).resolve().parents[1]
PLOT_FILES = (
    "val_curves.png",
    "final_test_acc.png",
    "acc_vs_params.png",
    "acc_vs_wall_time.png",
    "confusion_best.png",
)


# --------------------------------------------------------------------------- helpers


def write_run(
    root: Path,
    num: int,
    overrides: dict[str, object],
    test_acc: float | None,
    *,
    status: str = "ok",
    epochs: int = 2,
    params: int = 61_706,
    classes: int = 10,
    config: dict | None = None,
) -> Path:
    """A job dir as the framework writes it: ``results.json`` and ``.hydra/{config,overrides}.yaml``."""
    run_dir = root / str(num)
    (run_dir / ".hydra").mkdir(parents=True)
    override_list = [f"{k}={v}" for k, v in overrides.items()]
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in override_list))
    import yaml

    base = {"seed": overrides.get("seed", 0), "pooling": {"type": "max"}, "activation": {"name": "relu"}}
    base["model"] = {"name": "lenet5", "net": {"block_order": "conv-act-pool"}}
    base["data"] = {"name": "digits", "num_classes": classes}
    base.update(config or {})
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(base))
    results: dict = {
        "status": status,
        "error": None if status == "ok" else "RuntimeError: boom",
        "name": ",".join(override_list),
        "overrides": override_list,
        "group": "multirun-test",
        "seed": int(overrides.get("seed", 0)),  # type: ignore[call-overload]
        "model": "lenet5",
        "data": "digits",
        "params": {"total": params, "trainable": params},
        "flops": 833_040,
    }
    if status == "ok":
        assert test_acc is not None
        history = [
            {
                "epoch": e + 1,  # 1-based, as results.json records it
                "train/loss": 2.0 / (e + 1),
                "train/acc": test_acc * (e + 1) / epochs,
                "val/loss": 1.5 / (e + 1),
            }
            | {"val/acc": test_acc * (e + 1) / epochs}
            for e in range(epochs)
        ]
        matrix = [[0] * classes for _ in range(classes)]
        for i in range(classes):
            matrix[i][i] = 8
            matrix[i][(i + 1) % classes] = 2
        results |= {
            "metrics": {
                "test/acc": test_acc,
                "test/f1_macro": test_acc - 0.01,
                "test/acc_top5": 0.99,
                "test/loss": 0.3,
                "val/acc": test_acc,
                "val/acc_best": test_acc + 0.005,
            },
            "best_epoch": epochs,
            "epochs": epochs,
            "history": history,
            "throughput": {"train_images_per_s": 1000.0 + num, "train_seconds": 1.0},
            "wall_time_s": 5.0 + num,
            "confusion_matrix": matrix,
            "data_info": {"classes": [str(i) for i in range(classes)]},
        }
    RunRecord.file(run_dir).write_text(json.dumps(results))  # as a job writes it
    return run_dir


def pixel_variance(path: Path) -> float:
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        return sum(ImageStat.Stat(image.convert("L")).var)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.cells: list[str] = []
        self._in_cell = False
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ("img", "meta", "br", "hr"):
            self.stack.append(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        if tag == "table":
            self.tables += 1
        if tag == "td":
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()
        if tag == "td":
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self.cells[-1] += data


def parse_html(path: Path) -> _Html:
    parser = _Html()
    parser.feed(path.read_text())
    parser.close()
    assert parser.stack == [], parser.stack
    return parser


# --------------------------------------------------------------------------- statistics


def test_seed_stats_match_t_interval():
    from scipy import stats

    values = [0.91, 0.93, 0.95]
    s = seed_stats(values)
    assert s is not None and s.n == 3
    assert s.mean == pytest.approx(statistics.mean(values))
    assert s.std == pytest.approx(statistics.stdev(values))
    half = stats.t.ppf(0.975, 2) * statistics.stdev(values) / math.sqrt(3)
    assert (s.low, s.high) == pytest.approx((s.mean - half, s.mean + half))
    single = seed_stats([0.5])
    assert single is not None and single.mean == 0.5 and math.isnan(single.std) and math.isnan(single.low)
    assert seed_stats([]) is None


def test_welch_matches_scipy_and_handles_degenerate_cases():
    from scipy import stats

    a, b = [0.90, 0.92, 0.91], [0.95, 0.97, 0.99]
    diff, low, high, p = welch(a, b)
    assert diff == pytest.approx(statistics.mean(a) - statistics.mean(b))
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert low < diff < high < 0
    assert math.isnan(welch([0.9], [0.8, 0.85])[3])
    assert welch([0.5, 0.5], [0.5, 0.5])[3] == 1.0
    assert welch([0.5, 0.5], [0.6, 0.6])[3] == 0.0


def test_bootstrap_and_holm():
    diff, low, high, p = bootstrap([0.1, 0.11, 0.12], [0.9, 0.91, 0.92])
    assert diff == pytest.approx(-0.8) and low < diff < high and p < 0.01
    assert bootstrap([0.5, 0.6], [0.5, 0.6])[3] == 1.0
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)


def test_intervals_are_scipys():
    """The intervals are scipy's own: Welch's with its CI, the t-interval, the percentile bootstrap."""
    import numpy as np
    from scipy import stats

    a, b = [0.90, 0.92, 0.91, 0.935], [0.95, 0.97, 0.99]
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch(a, b)[1:3] == pytest.approx((ci.low, ci.high))
    s = seed_stats(a)
    assert (s.low, s.high) == pytest.approx(stats.t.interval(0.95, 3, loc=np.mean(a), scale=stats.sem(a)))
    resampled = stats.bootstrap(
        (np.array(a), np.array(b)),
        lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
        n_resamples=10_000,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert bootstrap(a, b)[1:3] == pytest.approx((resampled.low, resampled.high))


def test_parse_overrides():
    assert parse_overrides(["pooling=max", "+x=1", "~y", "a.b=c=d"]) == {
        "pooling": "max",
        "x": "1",
        "a.b": "c=d",
    }


# --------------------------------------------------------------------------- collect and group


def test_groups_by_varying_keys_except_seed(tmp_path):
    accs = {
        ("max", 0): 0.95,
        ("max", 1): 0.96,
        ("max", 2): 0.97,
        ("min", 0): 0.10,
        ("min", 1): 0.11,
        ("min", 2): 0.09,
    }
    for num, ((pooling, seed), acc) in enumerate(accs.items()):
        write_run(tmp_path, num, {"pooling": pooling, "seed": seed, "trainer.max_epochs": 2}, acc)
    runs = collect([tmp_path])
    assert [r.name for r in runs][:2] == [
        "pooling=max,seed=0,trainer.max_epochs=2",
        "pooling=max,seed=1,trainer.max_epochs=2",
    ]
    assert varying_keys(runs) == ["pooling"]
    keys, groups = group_runs(runs)
    assert keys == ["pooling"] and [g.label for g in groups] == ["pooling=max", "pooling=min"]
    best, other = groups
    assert best.is_best and best.stats["test/acc"].mean == pytest.approx(0.96)
    assert other.comparison is not None and other.comparison.distinguishable is True
    text = " ".join(insights(groups, runs, keys))
    assert "`pooling=max` has the highest mean test acc: 96.00%" in text
    assert "`pooling=min` collapsed" in text and "min pooling after ReLU" in text
    assert "lower by 86.00 points" in text


def test_a_key_left_at_default_in_some_runs_is_named_by_its_config(tmp_path):
    write_run(tmp_path, 0, {"seed": 0}, 0.9)
    write_run(tmp_path, 1, {"pooling": "avg", "seed": 0}, 0.8, config={"pooling": {"type": "avg"}})
    keys, groups = group_runs(collect([tmp_path]))
    assert keys == ["pooling"]
    assert [g.label for g in groups] == ["pooling=max", "pooling=avg"]


def test_within_noise_is_marked_and_not_ranked(tmp_path):
    for num, (pooling, seed, acc) in enumerate(
        [
            ("max", 0, 0.95),
            ("max", 1, 0.90),
            ("max", 2, 0.97),
            ("avg", 0, 0.94),
            ("avg", 1, 0.91),
            ("avg", 2, 0.955),
        ]
    ):
        write_run(tmp_path, num, {"pooling": pooling, "seed": seed}, acc)
    runs = collect([tmp_path])
    keys, groups = group_runs(runs)
    avg = next(g for g in groups if g.label == "pooling=avg")
    assert avg.comparison is not None and avg.comparison.distinguishable is False
    text = " ".join(insights(groups, runs, keys))
    assert "cannot be told apart" in text and "collapsed" not in text


def test_many_groups_within_noise_are_summed_up_in_one_line(tmp_path):
    """Six groups within noise of the best: one line with their range, not six; few stay one line each."""
    seeds = (0.95, 0.90, 0.97)
    for g, lr in enumerate(("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7")):
        for s, acc in enumerate(seeds):
            write_run(tmp_path, 3 * g + s, {"optimizer.lr": lr, "seed": s}, acc - 0.002 * g)
    runs = collect([tmp_path])
    keys, groups = group_runs(runs)
    lines = insights(groups, runs, keys)
    tied = [line for line in lines if "cannot be told apart" in line]
    assert tied == [
        "6 other groups cannot be told apart from `optimizer.lr=0.1` with these seeds: they differ by "
        "0.20 points to 1.20 points, smallest Holm-adjusted p = 1. The differences table lists each; more "
        "seeds would be needed to rank them."
    ]
    few = [r for r in runs if r.override_values["optimizer.lr"] in ("0.1", "0.2", "0.3")]
    keys, groups = group_runs(few)
    assert sum("cannot be told apart" in line for line in insights(groups, few, keys)) == 2


def test_missing_and_failed_jobs_are_listed(tmp_path):
    write_run(tmp_path, 0, {"pooling": "max", "seed": 0}, 0.9)
    write_run(tmp_path, 1, {"pooling": "max", "seed": 1}, 0.92)
    write_run(tmp_path, 2, {"pooling": "avg", "seed": 0}, None, status="failed")
    missing = tmp_path / "3" / ".hydra"
    missing.mkdir(parents=True)
    (missing / "overrides.yaml").write_text("- pooling=avg\n- seed=1\n")
    report = compare([tmp_path], tmp_path / "out", plots=False)
    assert {r.status for r in report.failed} == {"failed", "missing"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "RuntimeError: boom" in md and "no results.json" in md
    assert "2 of 4 runs did not finish" in md
    rows = list(csv.DictReader((tmp_path / "out" / "runs.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "missing"]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    avg = next(g for g in summary["groups"] if g["label"] == "pooling=avg")
    assert avg["finished"] == 0 and avg["runs"] == 2


def test_plots_and_html_from_fabricated_runs(tmp_path):
    for num, (pooling, seed, acc) in enumerate(
        [("max", 0, 0.95), ("max", 1, 0.96), ("avg", 0, 0.90), ("avg", 1, 0.93)]
    ):
        write_run(tmp_path / "sweep", num, {"pooling": pooling, "seed": seed}, acc, params=61_706 + 10 * num)
    report = compare([tmp_path / "sweep"], tmp_path / "out", test="bootstrap")
    assert set(report.plots) == {"curves", "final", "params", "time", "confusion", "effects_main"}
    for name in PLOT_FILES:
        assert pixel_variance(tmp_path / "out" / name) > 50, name
    page = parse_html(tmp_path / "out" / "report.html")
    assert len(page.images) == len(PLOT_FILES) + 1  # and the main-effects plot of the 2-level grid
    assert all(src.startswith("data:image/png;base64,") and len(src) > 1000 for src in page.images)
    assert "bootstrap" in (tmp_path / "out" / "report.md").read_text()


def test_no_runs_is_an_error(tmp_path, capsys):
    from experiments.comparison import main

    assert main([str(tmp_path)]) == 2
    assert "no runs found" in capsys.readouterr().err


def test_compare_imports_no_torch():
    code = (
        "import sys, experiments, experiments.comparison, experiments.comparison.writers.group_plots; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wandb_url(monkeypatch):
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    info = {"entity": "me", "project": "p", "group": "multirun-x", "run_id": "abc"}
    assert wandb_url(info, group=True) == "https://wandb.ai/me/p/groups/multirun-x"
    assert wandb_url(info) == "https://wandb.ai/me/p/runs/abc"
    assert wandb_url({"project": "p"}) is None


def test_wandb_project_path_needs_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(FileNotFoundError, match="credentials"):
        collect(["some-entity/some-project"])


def test_wandb_api_runs_are_mapped(monkeypatch):
    """``wandb.Api`` runs become runs like the others (a stand-in API: no network in tests)."""

    class Remote:
        def __init__(self, pooling, seed, acc):
            self.id, self.entity, self.project, self.group = f"id{pooling}{seed}", "me", "p", "multirun-x"
            self.name = f"pooling={pooling},seed={seed}"
            self.tags, self.state, self.url = (
                [f"pooling={pooling}"],
                "finished",
                f"https://wandb.ai/me/p/runs/{self.id}",
            )
            self.config = {"seed": seed, "model": {"name": "lenet5"}, "data": {"name": "mnist"}}
            self.summary = {"test/acc": acc, "test/f1_macro": acc, "_runtime": 12.0}
            self._acc = acc

        def scan_history(self, keys=None):
            return [{"epoch": 0, "val/acc": self._acc - 0.01}, {"epoch": 0, "train/loss": 0.5}]

    class Api:
        def __init__(self, timeout=None):
            pass

        def runs(self, path, filters=None):
            assert path == "me/p" and filters == {"group": "multirun-x"}
            return [
                Remote("max", 0, 0.98),
                Remote("max", 1, 0.97),
                Remote("avg", 0, 0.96),
                Remote("avg", 1, 0.95),
            ]

    import wandb

    monkeypatch.setattr(wandb, "Api", Api)
    monkeypatch.setattr("experiments.config.wandb_mode.wandb_credentials_exist", lambda: True)
    runs = collect(["me/p/multirun-x"])
    assert len(runs) == 4 and all(r.ok and r.source == "wandb-api" for r in runs)
    assert runs[0].history == [{"epoch": 1.0, "val/acc": pytest.approx(0.97), "train/loss": 0.5}]
    keys, groups = group_runs(runs)
    assert keys == ["pooling"] and groups[0].stats["test/acc"].mean == pytest.approx(0.975)
    from experiments.comparison.report_model import Report

    report = Report(runs=runs, keys=keys, groups=groups, metric="test/acc", insights=[], command="x")
    assert report.wandb_groups() == ["https://wandb.ai/me/p/groups/multirun-x"]


@pytest.mark.slow
def test_offline_wandb_run_is_read_from_its_transaction_log(tmp_path, monkeypatch):
    """A real offline W&B run (no torch): config, per-epoch history, summary and exit code come back."""
    import wandb

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(
        dir=str(tmp_path),
        project="experiments",
        group="multirun-test",
        name="pooling=avg,seed=1",
        tags=["pooling=avg"],
        config={"seed": 1, "model": {"name": "lenet5"}, "pooling": {"type": "avg"}},
        settings=wandb.Settings(console="off", x_disable_stats=True),
    )
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.8)]):
        run.log({"epoch": epoch, "val/acc": acc, "val/loss": loss})
        run.log({"epoch": epoch, "train/loss": loss + 0.1})
    run.summary["test/acc"] = 0.81
    run.finish()
    wandb.teardown()  # wandb-core may still be writing the log when finish() returns
    files = list(tmp_path.rglob("run-*.wandb"))
    assert len(files) == 1
    kinds = [r.WhichOneof("record_type") for r in wandb_records(files[0])]
    assert "history" in kinds, (kinds, files, files[0].stat().st_size)
    found = read_wandb_file(files[0])
    assert found.status == "ok" and found.source == "wandb-offline"
    assert found.override_values == {"pooling": "avg", "seed": "1"} and found.seed == 1
    assert found.config["pooling"] == {"type": "avg"} and found.model == "lenet5"
    assert found.metrics["test/acc"] == pytest.approx(0.81)
    assert [row["val/acc"] for row in found.history] == [0.5, 0.8]
    assert found.history[0]["train/loss"] == pytest.approx(1.1)
    assert found.best_epoch == 2  # Lightning's 0-based epoch 1 is the second epoch
    assert found.wandb and found.wandb["group"] == "multirun-test"
    assert [r.path for r in collect([tmp_path / "wandb"])] == [str(files[0].parent)]


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_real_sweep_then_compare_cli(tmp_path):
    """A real sweep (digits, pooling=max,avg x seed=0,1, 1 epoch), then the compare CLI on it."""
    sweep = tmp_path / "sweep"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "experiments", "-m", "pooling=max,avg", "seed=0,1", "trainer.max_epochs=1"]
    cmd += ["logger=csv", f"hydra.sweep.dir={sweep}"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    job_dirs = sorted((p for p in sweep.iterdir() if p.is_dir()), key=lambda p: int(p.name))
    assert len(job_dirs) == 4
    results = {p.name: RunRecord.read(p) for p in job_dirs}
    assert all(r.ok for r in results.values())

    # one more job that failed: a copy of a job dir whose results.json says so
    failed = sweep / "4"
    shutil.copytree(job_dirs[0], failed, ignore=shutil.ignore_patterns("checkpoints"))
    broken = json.loads(RunRecord.file(failed).read_text())
    broken.update(status="failed", error="RuntimeError: failed on purpose", metrics={}, history=[])
    broken.update(
        overrides=["pooling=max", "seed=2", "trainer.max_epochs=1"],
        name="pooling=max,seed=2,trainer.max_epochs=1",
    )
    RunRecord.file(failed).write_text(json.dumps(broken))

    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "compare", str(sweep), "--out", str(out)],
        cwd=ROOT,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "grouped by pooling" in done.stdout and "failed on purpose" in done.stdout

    # the table against results.json, mean and std computed here
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keys"] == ["pooling"]
    by_label = {g["label"]: g for g in summary["groups"]}
    assert set(by_label) == {"pooling=max", "pooling=avg"}
    for pooling in ("max", "avg"):
        finished = [r for r in results.values() if r.swept["pooling"] == pooling]
        for metric in ("test/acc", "test/f1_macro", "val/acc_best"):
            values = [r.metrics[metric] for r in finished]
            stats = by_label[f"pooling={pooling}"]["stats"][metric]
            assert stats["n"] == 2
            assert stats["mean"] == pytest.approx(statistics.mean(values), abs=1e-12)
            assert stats["std"] == pytest.approx(statistics.stdev(values), abs=1e-12)
        group = by_label[f"pooling={pooling}"]
        assert group["params"] == finished[0].params_total
        assert group["wall_time_s"]["mean"] == pytest.approx(statistics.mean(r.wall_time_s for r in finished))
    assert by_label["pooling=max"]["runs"] == 3 and by_label["pooling=max"]["finished"] == 2
    assert [f["status"] for f in summary["failed"]] == ["failed"]
    best = max(by_label.values(), key=lambda g: g["stats"]["test/acc"]["mean"])
    assert best["best"] and best["mark"] == "★"

    md = (out / "report.md").read_text()
    for pooling in ("max", "avg"):
        mean = statistics.mean(
            r.metrics["test/acc"] for r in results.values() if r.swept["pooling"] == pooling
        )
        assert f"| pooling={pooling} |" in md and f"{100 * mean:.2f} ±" in md
    assert "failed on purpose" in md

    # one epoch draws no curves, and equal parameter counts no accuracy-against-parameters plot
    made = [name for name in PLOT_FILES if name not in ("val_curves.png", "acc_vs_params.png")]
    for name in made:
        assert (out / name).is_file(), name
        assert pixel_variance(out / name) > 50, name
    assert not (out / "val_curves.png").exists() and not (out / "acc_vs_params.png").exists()

    page = parse_html(out / "report.html")
    assert len(page.images) == len(made) + 1  # and the main-effects plot of the 2-level grid
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    import base64
    import io

    from PIL import Image

    for src in page.images:
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
            assert image.size[0] > 100 and image.size[1] > 100
    assert "failed on purpose" in " ".join(page.cells)

    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert len(rows) == 5
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "ok", "failed"]
    for row, job in zip(rows, job_dirs):
        expected = results[job.name]
        assert row["pooling"] == expected.swept["pooling"] and int(row["seed"]) == expected.seed
        assert float(row["test/acc"]) == pytest.approx(expected.metrics["test/acc"])
        assert int(row["params"]) == expected.params_total


def test_cli_prints_values_with_brackets_verbatim(tmp_path, capsys):
    """Override values such as ``[6,16]`` are text, not rich markup."""
    from experiments.comparison import main

    for num, (widths, seed, acc) in enumerate([("[6,16]", 0, 0.9), ("[6,16]", 1, 0.91), ("[8,32]", 0, 0.95)]):
        write_run(tmp_path, num, {"model.widths": widths, "seed": seed}, acc)
    assert main([str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "model.widths=[6,16]" in out and "model.widths=[8,32]" in out
    assert (tmp_path / "compare" / "report.html").is_file()


def test_significant_alone_but_not_after_holm_is_worded_as_such(tmp_path):
    """The example's situation: a CI that excludes zero, but a Holm-adjusted p above alpha."""
    accs = {"max": (0.9772, 0.9720, 0.9821), "avg": (0.9711, 0.9698, 0.9718), "min": (0.9626, 0.9620, 0.9632)}
    num = 0
    for pooling, values in accs.items():
        for seed, acc in enumerate(values):
            write_run(tmp_path, num, {"pooling": pooling, "seed": seed}, acc)
            num += 1
    runs = collect([tmp_path])
    keys, groups = group_runs(runs)
    low = next(g for g in groups if g.label == "pooling=min").comparison
    assert low is not None and low.high < 0 and low.p < 0.05 <= low.p_adjusted  # the case under test
    text = " ".join(insights(groups, runs, keys))
    assert "unadjusted 95% CI" in text and "excludes zero" in text and "not conclusive" in text
    avg = next(g for g in groups if g.label == "pooling=avg").comparison
    assert avg is not None and avg.low < 0 < avg.high
    assert "includes zero" in text
