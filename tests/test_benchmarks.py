"""The benchmarks run end to end in their quick mode and write their results (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = sorted(p.stem.removeprefix("bench_") for p in (REPO / "benchmarks").glob("bench_*.py"))
# Every benchmark's --quick, on 2 cores: 57 s quiet, 90-120 s beside other jobs (load 3-5), 170 s at
# load 6, 220 s beside the rest of the suite on 2 xdist workers (load 5-6); the limit is 3x the slowest.
QUICK_TIMEOUT = 660
# The 2-job, 1-epoch sweep profile: 7 s quiet, 18 s at load 4-5.
PROFILE_TIMEOUT = 120


def run_script(*args: str, results: Path, timeout: int, **env: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repo with its results in ``results``, W&B off, ``env`` added."""
    env = {**os.environ, "BENCH_RESULTS_DIR": str(results), "WANDB_MODE": "disabled", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.timeout(QUICK_TIMEOUT)
def test_every_benchmark_runs_in_quick_mode_and_writes_json_and_markdown(tmp_path):
    data = os.environ.get("EXPERIMENTS_DATA_DIR")
    if not data or not (Path(data) / "mnist").is_dir():
        pytest.skip("EXPERIMENTS_DATA_DIR with MNIST is not set: the benchmarks need real data")
    done = run_script("benchmarks/run_all.py", "--quick", results=tmp_path, timeout=QUICK_TIMEOUT - 10)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "total:" in done.stdout
    written = {p.stem for p in tmp_path.glob("*.json")}
    assert written == set(BENCHMARKS), done.stdout[-3000:]
    for name in written:
        report = json.loads((tmp_path / f"{name}.json").read_text())
        assert report["machine"]["cpus"] >= 1 and "--quick" in report["command"]
        assert (tmp_path / f"{name}.md").read_text().startswith("# ")
    overhead = json.loads((tmp_path / "overhead.json").read_text())
    assert {"framework", "loop", "dataloader"} <= set(overhead["results"][0]["results"])


def test_run_all_refuses_an_unknown_benchmark_name():
    done = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--only", "nosuch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "no benchmark named ['nosuch']" in done.stderr


@pytest.mark.slow
@pytest.mark.timeout(PROFILE_TIMEOUT)
def test_the_sweep_profile_clocks_every_phase_of_a_real_sweep(tmp_path):
    sweep = ["-m", "pooling=max,avg", "trainer.max_epochs=1"]
    done = run_script(
        "benchmarks/profile_sweep.py",
        "--name",
        "profile",
        *sweep,
        results=tmp_path,
        timeout=PROFILE_TIMEOUT - 10,
        TMPDIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "profile.json").read_text())
    calls = {p["phase"].rsplit(".", 1)[-1]: p["calls"] for p in report["phases"]}
    assert report["jobs"] == 2 and report["train_seconds"] > 0
    # One check for the sweep; each job composed once more by the launcher, fitted, tested from its checkpoint.
    assert calls["check_sweep"] == 1 and calls["run_sweep"] == 1
    assert calls["load_sweep_config"] == 2 and calls["fit"] == 2 and calls["test"] == 2
    assert calls["advance"] > 0 and "record_plots" not in calls  # plots=auto: no per-run plots in a sweep
    assert (tmp_path / "profile.md").read_text().startswith("# Where a sweep's time goes")
