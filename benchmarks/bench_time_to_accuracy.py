"""Time to accuracy: wall time from process start to >= 99.0 % MNIST test accuracy with LeNet-5.

Runs ``python -m experiments experiment=lenet5_mnist_fast`` as a fresh process, as a user would, and
times it from ``Popen`` to exit; ``results.json`` gives the test accuracy and the job's own wall time,
so the difference is the start-up before the job (imports, composing the config). Runs are repeated
(the machine is shared and noisy) and reported as median and min-max. ``--quick`` runs it once, for
5 training batches of one epoch and one test batch: it checks that the benchmark runs, not the accuracy.

In the same session, the seed notebook's Keras LeNet-5 recipe (``keras_seed_recipe.py``: Keras 3 on its
torch backend, batch 64, 10 epochs; ``--quick``: 1 epoch of 512 images, tested on 1,000) runs as its own
process, timed from its start to the epoch of its best test accuracy; the ratio of that to the
framework's median is the race (target >= 4x). Where Keras is not installed, that part is left out and
says so.

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

from experiments.records.run_record import RunRecord

TARGET_ACCURACY = 0.99
TARGET_SECONDS = 20.0
TARGET_KERAS_RATIO = 4.0
HERE = Path(__file__).resolve().parent
PRESET = ["experiment=lenet5_mnist_fast"]
QUICK = [  # after the preset with --quick: a few batches, to check that it runs and writes its files
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=5",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]
QUICK_KERAS = ("--train-images", "512", "--test-images", "1000")


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
    record = RunRecord.read(run_dir)
    test_acc = record.metric("test/acc")
    if not record.ok or test_acc is None or record.wall_time_s is None or record.fit_time_s is None:
        raise RuntimeError(f"{overrides}: record {record.status} {record.error or ''} in {run_dir}")
    return {
        "wall_s": round(wall, 2),
        "test_acc": test_acc,
        "job_s": round(record.wall_time_s, 2),
        "fit_s": round(record.fit_time_s, 2),
        "before_job_s": round(wall - record.wall_time_s, 2),
    }


def run_keras(data_dir: str, epochs: int, extra: tuple[str, ...] = ()) -> dict | None:
    """The seed's Keras recipe in a fresh process: test accuracy and seconds from process start, each epoch."""
    import importlib.util

    if importlib.util.find_spec("keras") is None:
        return None
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    started = time.time()
    done = subprocess.run(
        [
            sys.executable,
            str(HERE / "keras_seed_recipe.py"),
            "--data-dir",
            data_dir,
            "--epochs",
            str(epochs),
            *extra,
        ],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.time() - started
    if done.returncode != 0:
        raise RuntimeError(f"keras_seed_recipe.py: exit code {done.returncode}:\n{done.stderr[-3000:]}")
    epochs_seen = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for row in epochs_seen:
        row["seconds_from_start"] = round(row.pop("unix_time") - started, 2)
    best = max(epochs_seen, key=lambda r: r["test_acc"])  # the first epoch with the best accuracy
    reached = [r for r in epochs_seen if r["test_acc"] >= TARGET_ACCURACY]
    return {
        "command": " ".join(["python benchmarks/keras_seed_recipe.py --epochs", str(epochs), *extra]),
        "epochs": epochs_seen,
        "wall_s": round(wall, 2),
        "best_test_acc": best["test_acc"],
        "best_epoch": best["epoch"],
        "seconds_to_best": best["seconds_from_start"],
        "seconds_to_target": reached[0]["seconds_from_start"] if reached else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="one run of 5 batches (Keras: 512 images) instead of --repeats"
    )
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
    overrides = [*PRESET, *(QUICK if args.quick else []), *args.overrides]
    repeats = 1 if args.quick else args.repeats
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="bench-tta-"))
    runs = []
    for i in range(repeats):
        runs.append(run_once(overrides, root / f"run{i}", env))
        print(f"run {i + 1}/{repeats}: {runs[-1]}", flush=True)
    walls = [r["wall_s"] for r in runs]
    keras = run_keras(args.data_dir, 1, QUICK_KERAS) if args.quick else run_keras(args.data_dir, 10)
    if keras is not None:
        keras["ratio_to_framework"] = round(keras["seconds_to_best"] / statistics.median(walls), 2)
        print(f"keras: best {keras['best_test_acc']:.4f} at {keras['seconds_to_best']} s from start "
              f"({keras['ratio_to_framework']}x the framework)", flush=True)  # fmt: skip
    report = {
        "command": " ".join(["python", "benchmarks/bench_time_to_accuracy.py", *sys.argv[1:]]),
        "cli": "python -m experiments " + " ".join(overrides),
        "quick": args.quick,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "targets": {
            "test/acc": f">= {TARGET_ACCURACY}",
            "wall_s": f"<= {TARGET_SECONDS}",
            "keras seconds to its best / framework seconds to 99 %": f">= {TARGET_KERAS_RATIO}",
        },
        "runs": runs,
        "median_wall_s": round(statistics.median(walls), 2),
        "min_wall_s": min(walls),
        "max_wall_s": max(walls),
        "accuracy_reached": all(r["test_acc"] >= TARGET_ACCURACY for r in runs),
        "met": statistics.median(walls) <= TARGET_SECONDS
        and all(r["test_acc"] >= TARGET_ACCURACY for r in runs),
        "keras": keras,
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
    if report["quick"]:
        lines += ["`--quick`: a few batches only, to check that the benchmark runs; not a measurement.", ""]
    keras = report.get("keras")
    if keras is None:
        lines += ["The seed's Keras recipe: not run (Keras is not installed; `pip install keras`).", ""]
        return "\n".join(lines)
    lines += [
        f"## The seed's Keras LeNet-5 recipe, same session: `{keras['command']}`",
        "",
        "Keras 3 on its torch backend, batch 64, Adam 1e-3, test accuracy after each epoch; seconds from "
        "starting its process.",
        "",
        "| epoch | test acc | s from start |",
        "|---|---|---|",
        *(f"| {r['epoch']} | {r['test_acc']:.4f} | {r['seconds_from_start']} |" for r in keras["epochs"]),
        "",
        f"Keras' best: {keras['best_test_acc']:.4f} at epoch {keras['best_epoch']}, {keras['seconds_to_best']} s "
        f"from start (99 %: {'at ' + str(keras['seconds_to_target']) + ' s' if keras['seconds_to_target'] else 'never'})"
        f". The framework {'reaches 99 % in' if report['accuracy_reached'] else 'stopped below 99 % after'} "
        f"{report['median_wall_s']} s: **{keras['ratio_to_framework']}x** sooner (target >= {TARGET_KERAS_RATIO:.0f}x).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
