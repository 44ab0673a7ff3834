"""Time to accuracy: wall time from process start to >= 99.0 % MNIST test accuracy with LeNet-5.

Runs ``python -m experiments experiment=lenet5_mnist_fast`` as a fresh process, as a user would, and
times it from ``Popen`` to exit; ``results.json`` gives the test accuracy and the job's own wall time,
so the difference is the start-up before the job (imports, composing the config). Runs are repeated
(the machine is shared and noisy) and reported as median and min-max. ``--quick`` runs it once.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_time_to_accuracy.py [--quick]

Writes benchmarks/results/time_to_accuracy.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import machine, save  # benchmarks/report.py, beside this script

TARGET_ACCURACY = 0.99
TARGET_SECONDS = 20.0
PRESET = ["experiment=lenet5_mnist_fast"]


def run_once(overrides: list[str], run_dir: Path, env: dict[str, str]) -> dict[str, float]:
    """One run of the CLI in a fresh process: its wall time, test accuracy and the job's own time."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "experiments", *overrides, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{overrides}: exit code {done.returncode}:\n{done.stderr[-3000:]}")
    results = json.loads((run_dir / "results.json").read_text())
    return {
        "wall_s": round(wall, 2),
        "test_acc": results["metrics"]["test/acc"],
        "job_s": round(results["wall_time_s"], 2),
        "fit_s": round(results["fit_time_s"], 2),
        "before_job_s": round(wall - results["wall_time_s"], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one run instead of --repeats")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-dir", default=os.environ.get("EXPERIMENTS_DATA_DIR", "data"))
    parser.add_argument(
        "overrides", nargs="*", help="extra overrides after the preset, e.g. threads=2 channels_last=false"
    )
    args = parser.parse_args(argv)
    if not (Path(args.data_dir) / "mnist").is_dir():
        print(f"bench_time_to_accuracy: no MNIST under {args.data_dir}; skipped")
        return
    env = {**os.environ, "EXPERIMENTS_DATA_DIR": args.data_dir, "WANDB_MODE": "disabled"}
    overrides = [*PRESET, *args.overrides]
    repeats = 1 if args.quick else args.repeats
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="bench-tta-"))
    runs = []
    for i in range(repeats):
        runs.append(run_once(overrides, root / f"run{i}", env))
        print(f"run {i + 1}/{repeats}: {runs[-1]}", flush=True)
    walls = [r["wall_s"] for r in runs]
    report = {
        "command": " ".join(["python", "benchmarks/bench_time_to_accuracy.py", *sys.argv[1:]]),
        "cli": "python -m experiments " + " ".join(overrides),
        "quick": args.quick,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "targets": {"test/acc": f">= {TARGET_ACCURACY}", "wall_s": f"<= {TARGET_SECONDS}"},
        "runs": runs,
        "median_wall_s": round(statistics.median(walls), 2),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "accuracy_reached": all(r["test_acc"] >= TARGET_ACCURACY for r in runs),
        "met": statistics.median(walls) <= TARGET_SECONDS
        and all(r["test_acc"] >= TARGET_ACCURACY for r in runs),
    }
    save("time_to_accuracy", report, markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Time to 99 % MNIST test accuracy, from process start",
        "",
        f"Command: `{report['command']}` (runs `{report['cli']}`). {report['machine']['cpus']} CPUs, "
        f"load average {report['load_average_before'][0]:.1f} before and {report['load_average_after'][0]:.1f} "
        "after. Wall time from starting the process to its exit; `before job` is that minus the job's own "
        "wall time (imports and composing the config).",
        "",
        "| run | wall s | test acc | job s | fit s | before job s |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(report["runs"], 1):
        lines.append(
            f"| {i} | {r['wall_s']} | {r['test_acc']:.4f} | {r['job_s']} | {r['fit_s']} | {r['before_job_s']} |"
        )
    lines += [
        "",
        f"Median {report['median_wall_s']} s (min {report['min_wall_s']}, max {report['max_wall_s']}); "
        f"targets: test accuracy >= {TARGET_ACCURACY:.0%} and <= {TARGET_SECONDS:.0f} s: "
        f"{'met' if report['met'] else 'not met'}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
