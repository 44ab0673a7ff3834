"""``experiments compare`` on runs with probe metrics: the Probes section (tables, the three pictures) and
each metric's direction and unit (analysis/metric_kind.py).

The fast tests write run dirs through the real RecordWriter (3 poolings x 3 seeds, known probe values,
one run a copy of another) and run the real compare command line on them; the slow one trains a real
2 x 2 sweep with the probes on the default digits data and compares it.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from scipy import stats

from experiments.comparison import main
from experiments.comparison.analysis.metric_kind import metric_kind
from experiments.records.record_writer import RecordWriter

PROBE_PNGS = ("probe_shift.png", "probe_consistency.png", "probe_borders.png")
SEEDS = (0, 1, 2)
#: Known values per pooling, one per seed.
TEST_ACC = {"max": [0.90, 0.92, 0.91], "avg": [0.88, 0.89, 0.86], "min": [0.80, 0.83, 0.81]}
CONSISTENCY = {"max": [0.70, 0.72, 0.75], "avg": [0.85, 0.86, 0.88], "min": [0.60, 0.66, 0.61]}
GAP_ACC = {"max": [0.050, 0.060, 0.055], "avg": [0.020, 0.025, 0.030], "min": [0.100, 0.120, 0.110]}
GAP_LOSS = {"max": [0.30, 0.35, 0.32], "avg": [0.10, 0.12, 0.15], "min": [0.50, 0.55, 0.52]}


def probe_metrics(pooling: str, i: int) -> dict[str, float]:
    acc = TEST_ACC[pooling][i]
    drop = {"max": 0.03, "avg": 0.02, "min": 0.05}[pooling]
    metrics = {"test/acc": acc, "val/acc_best": acc, "test/f1_macro": acc - 0.01}
    for d in (1, 2, 3):
        metrics[f"probe/shift_acc_{d}px"] = acc - drop * d - 0.002 * i * d
        metrics[f"probe/shift_acc_circular_{d}px"] = acc - drop * d * 0.8 - 0.001 * i
    metrics["probe/shift_acc"] = statistics.mean(metrics[f"probe/shift_acc_{d}px"] for d in (1, 2, 3))
    metrics["probe/consistency"] = CONSISTENCY[pooling][i]
    for w in (1, 2, 4):
        metrics[f"probe/border_occlude_acc_{w}px"] = acc - 0.01 * w * (1 + i / 10)
    metrics["probe/edge_acc"] = acc - 0.2 - 0.01 * i
    metrics["probe/gap_acc"] = GAP_ACC[pooling][i]
    metrics["probe/gap_loss"] = GAP_LOSS[pooling][i]
    return metrics


def write_run(
    root: Path, num: int, pooling: str, seed: int, metrics: dict[str, float], identical_to: str | None = None
) -> Path:
    """A job dir as a sweep leaves it: ``.hydra/`` and a ``results.json`` written by the RecordWriter."""
    run_dir = root / str(num)
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [f"pooling={pooling}", f"seed={seed}"]
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"seed": seed, "pooling": {"type": pooling}, "model": {"name": "lenet5"}, "data": {"name": "digits"}}
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    writer = RecordWriter(run_dir)
    writer.update(
        status="ok", name=",".join(overrides), overrides=overrides, group="probe-sweep", seed=seed,
        model="lenet5", data="digits", metrics=metrics, epochs=1, best_epoch=1, identical_to=identical_to,
    )
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """3 poolings x 3 seeds with known probe metrics, and a tenth run that copies ``max`` at seed 0."""
    root = tmp_path / "sweep"
    num = 0
    for pooling in ("max", "avg", "min"):
        for i, seed in enumerate(SEEDS):
            write_run(root, num, pooling, seed, probe_metrics(pooling, i))
            num += 1
    write_run(root, num, "max", 0, probe_metrics("max", 0), identical_to="../0")  # the sweep reused job 0
    return root


def run_compare(*argv: str) -> int:
    return main([*argv, "-q"])


def t_interval(values: list[float]) -> tuple[float, float, float]:
    mean = statistics.mean(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=mean, scale=stats.sem(values))
    return mean, float(low), float(high)


def row_of(md: str, group: str, metric: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] == group and cells[1].split(" ")[0] == metric:
            return cells
    raise AssertionError(f"no row {group} {metric}")


def section(md: str, title: str) -> str:
    start = md.index(f"## {title}\n")
    following = md.find("\n## ", start + 3)
    return md[start : following if following > 0 else len(md)]


def test_metric_kinds():
    expected = {
        "test/acc": (True, True),
        "val/acc_best": (True, True),
        "probe/consistency": (True, True),
        "probe/shift_acc_2px": (True, True),
        "probe/train_acc": (True, True),
        "probe/dead_units": (False, True),
        "probe/dead_units/features.1": (False, True),
        "probe/gap_acc": (False, True),
        "probe/ece": (False, True),
        "probe/gap_loss": (False, False),
        "probe/train_loss": (False, False),
        "test/loss": (False, False),
    }
    for name, (higher, fraction) in expected.items():
        kind = metric_kind(name)
        assert (kind.higher_is_better, kind.fraction) == (higher, fraction), name
    assert metric_kind("test/acc").direction == "" and metric_kind("probe/ece").direction == " (lower is better)"
    assert metric_kind("test/loss").default_sesoi is None and metric_kind("test/acc").default_sesoi == 0.5


def test_the_probes_section_has_scipys_intervals_over_distinct_runs(sweep, tmp_path):
    out = tmp_path / "report"
    assert run_compare(str(sweep), "-o", str(out)) == 0
    for name in PROBE_PNGS:
        from PIL import Image

        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 150, name
    md = (out / "report.md").read_text()
    probes = section(md, "Probes")
    for title in ("### Shift", "### Consistency", "### Borders", "### Overfitting"):
        assert title in probes
    for name in PROBE_PNGS:
        assert f"]({name})" in probes and f"]({name})" not in section(md, "Plots")
    for pooling in ("max", "avg", "min"):
        group = f"pooling={pooling}"
        known = {m: [probe_metrics(pooling, i)[m] for i in range(3)] for m in probe_metrics(pooling, 0)}
        for metric in ("probe/consistency", "probe/shift_acc_2px", "probe/border_occlude_acc_4px", "test/acc"):
            mean, low, high = t_interval(known[metric])
            # the copy of max's seed 0 is not a fourth seed: n = 3 and the interval of the 3 distinct runs
            assert row_of(probes, group, metric) == [
                group, f"{metric} (%)", "3", f"{100 * mean:.2f}", f"[{100 * low:.2f}, {100 * high:.2f}]"
            ]
        mean, low, high = t_interval(GAP_LOSS[pooling])  # a loss: raw, never in percent
        assert row_of(probes, group, "probe/gap_loss") == [
            group, "probe/gap_loss (lower is better)", "3", f"{mean:.3f}", f"[{low:.3f}, {high:.3f}]"
        ]
    summary = json.loads((out / "summary.json").read_text())
    shift = {c["group"]: c for c in summary["probes"]["shift"]}
    assert shift["pooling=max"]["xs"] == [0.0, 1.0, 2.0, 3.0] and shift["pooling=max"]["points"][0]["n"] == 3
    assert len(summary["probes"]["shift_circular"]) == 3
    assert set(summary["plots"]) >= {"probe_shift", "probe_consistency", "probe_borders"}
    page = (out / "report.html").read_text()
    probes_html = page[page.index("<h2>Probes</h2>") : page.index("<h2>Runs that did not finish</h2>")]
    assert probes_html.count('src="data:image/png;base64,') == 3


def test_no_probe_metrics_no_section_and_no_stale_pictures(sweep, tmp_path):
    out = tmp_path / "report"
    assert run_compare(str(sweep), "-o", str(out)) == 0
    assert all((out / name).is_file() for name in PROBE_PNGS)
    plain = tmp_path / "plain"
    for i, seed in enumerate(SEEDS):
        for j, pooling in enumerate(("max", "avg")):
            write_run(plain, 2 * i + j, pooling, seed, {"test/acc": TEST_ACC[pooling][i]})
    assert run_compare(str(plain), "-o", str(out)) == 0  # into the same report dir
    md = (out / "report.md").read_text()
    assert "## Probes" not in md and not any(name in md for name in PROBE_PNGS)
    assert not any((out / name).exists() for name in PROBE_PNGS)
    assert json.loads((out / "summary.json").read_text())["probes"] is None
    assert "<h2>Probes</h2>" not in (out / "report.html").read_text()


def test_lower_is_better_ranks_the_lowest_best_and_says_so(sweep, tmp_path):
    out = tmp_path / "report"
    assert run_compare(str(sweep), "-o", str(out), "--metric", "probe/gap_acc") == 0
    summary = json.loads((out / "summary.json").read_text())
    best = [g["label"] for g in summary["groups"] if g["best"]]
    assert best == ["pooling=avg"]  # the lowest gap
    md = (out / "report.md").read_text()
    answer = section(md, "The answer")
    # against the reference max: min raises the gap, avg lowers it; "adds" would read as a gain
    raised = 100 * (statistics.mean(GAP_ACC["min"]) - statistics.mean(GAP_ACC["max"]))
    lowered = 100 * (statistics.mean(GAP_ACC["max"]) - statistics.mean(GAP_ACC["avg"]))
    assert re.search(
        rf"`min` raises probe/gap_acc by {raised:.2f} points \[\d+\.\d\d, \d+\.\d\d\] \(lower is better\)", answer
    ), answer
    assert re.search(
        rf"`avg` lowers probe/gap_acc by {lowered:.2f} points \[\d+\.\d\d, \d+\.\d\d\] \(lower is better\)", answer
    ), answer
    assert "adds" not in answer and "costs" not in answer
    findings = section(md, "Findings")
    assert "`pooling=avg` has the lowest mean probe/gap_acc (lower is better)" in findings
    assert re.search(r"`pooling=min` is higher by \d+\.\d\d points, and lower is better \(95% CI", findings)
    differences = section(md, "Differences against the best group (Welch's t-test)")
    assert "Δ vs best (points) (lower is better)" in differences
    assert re.search(r"\| pooling=min \| \+\d+\.\d\d \|.*\| higher \|", differences), differences


def test_a_loss_is_raw_with_no_default_margin(sweep, tmp_path):
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "compare", str(sweep), "-o", str(out), "--metric", "probe/gap_loss"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    md = (out / "report.md").read_text()
    assert "points" not in md and "points" not in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sesoi"] is None and [g["label"] for g in summary["groups"] if g["best"]] == ["pooling=avg"]
    assert "No equivalence margin for probe/gap_loss's unit" in section(md, "The answer")
    raised = statistics.mean(GAP_LOSS["min"]) - statistics.mean(GAP_LOSS["max"])
    assert f"`min` raises probe/gap_loss by {raised:.3f} [" in section(md, "The answer")
    # a margin given in the loss's own unit is used as given
    again = tmp_path / "again"
    assert run_compare(str(sweep), "-o", str(again), "--metric", "probe/gap_loss", "--sesoi", "0.05") == 0
    assert json.loads((again / "summary.json").read_text())["sesoi"] == 0.05


@pytest.mark.slow
def test_real_sweep_with_probes_then_compare(tmp_path):
    """A real 2 x 2 sweep (digits, 1 epoch) with the shift, consistency and border probes, then compare."""
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "experiments", "-m", "pooling=max,avg", "seed=0,1"]
    cmd += ["probes=[shift,consistency,borders]", "trainer.max_epochs=1", "hydra.sweep.dir=sweep"]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "compare", "sweep", "-o", str(out)],
        cwd=tmp_path, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "probes pooling=max:" in done.stdout
    for name in PROBE_PNGS:
        assert (out / name).is_file() and (out / name).stat().st_size > 10_000, name
    probes = section((out / "report.md").read_text(), "Probes")
    for pooling in ("max", "avg"):
        cells = row_of(probes, f"pooling={pooling}", "probe/consistency")
        assert cells[2] == "2" and 0 <= float(cells[3]) <= 100
        row_of(probes, f"pooling={pooling}", "probe/shift_acc_3px")
        row_of(probes, f"pooling={pooling}", "probe/border_occlude_acc_4px")


def test_runs_csv_carries_the_probe_metrics_and_reads_back_into_the_same_answer(sweep, tmp_path):
    """A report's runs.csv keeps every probe metric, so `experiments compare <report>/runs.csv` re-analyses them."""
    import shutil

    shutil.rmtree(sweep / "9")  # the copy: runs.csv has no identical_to column to say it is one
    first = tmp_path / "first"
    assert run_compare(str(sweep), "-o", str(first), "--metric", "probe/consistency") == 0
    header = (first / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"probe/consistency", "probe/gap_acc", "probe/shift_acc_2px"} <= set(header)
    again = tmp_path / "again"
    assert run_compare(str(first / "runs.csv"), "-o", str(again), "--metric", "probe/consistency") == 0
    before = json.loads((first / "summary.json").read_text())
    after = json.loads((again / "summary.json").read_text())
    assert after["answer"] == before["answer"]
    assert after["probes"]["tables"] == before["probes"]["tables"]
