"""How far the time estimate (``sweep.dry_run=true``, the line before a sweep) is from the measured time.

The machine is calibrated afresh into a temporary calibration file (the timed steps of
``experiments.training.calibration``), each config's estimate is computed as the dry run computes it, and
then the config runs as a real job (``python -m experiments ... trainer=cpu``, one process each). The
measured time is the job's ``wall_time_s`` (what the estimate predicts: data, model, fit, test); the
process's own wall time (Python, imports) is recorded beside it.

    python benchmarks/bench_time_estimate.py [--quick]

Writes benchmarks/results/time_estimate.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import command, header, save, torch_machine  # benchmarks/report.py, beside this script

CONFIGS = {
    "digits, LeNet-5, 3 epochs": ["trainer.max_epochs=3"],
    "MNIST, LeNet-5, 1 epoch": ["data=mnist", "trainer.max_epochs=1"],
    "MNIST, LeNet-5 avg pooling, 1 epoch": ["data=mnist", "pooling=avg", "trainer.max_epochs=1"],
}
QUICK = {
    "digits, LeNet-5, 1 epoch": ["trainer.max_epochs=1"],
    "MNIST, LeNet-5, 20 batches": ["data=mnist", "trainer.max_epochs=1", "+trainer.limit_train_batches=20"],
}
COMMON = ["trainer=cpu", "logger=csv", "trainer.num_sanity_val_steps=0"]


def estimate(overrides: list[str]) -> dict:
    from experiments.cli.layers_command import layer_table_of
    from experiments.config import compose
    from experiments.sweeps.time_estimate import job_time, rate_for

    cfg = compose(overrides)
    _, rate = rate_for("cpu")
    flops = float(layer_table_of(cfg)["totals"]["flops"])
    found = job_time(cfg, flops, rate)
    return {"predicted_s": found.seconds, "epochs": found.epochs, "images": found.images, "flops": flops}


def run(overrides: list[str], run_dir: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "experiments", *overrides, f"hydra.run.dir={run_dir}"],
        capture_output=True, text=True, env={**os.environ, "WANDB_MODE": "offline"}, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    process = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{overrides}: exit {done.returncode}\n{done.stderr[-2000:]}")
    from experiments.records.run_record import RunRecord

    record = RunRecord.read(run_dir)
    return {"measured_s": record.wall_time_s, "fit_s": record.fit_time_s, "process_s": process}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two short configs (CI)")
    args = parser.parse_args()
    configs = QUICK if args.quick else CONFIGS
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        previous = os.environ.get("EXPERIMENTS_CALIBRATION")
        os.environ["EXPERIMENTS_CALIBRATION"] = str(Path(tmp) / "calibration.json")
        try:
            from experiments.sweeps.time_estimate import rate_for

            _, rate = rate_for("cpu")  # measured now: no file in the temporary dir
            rows = []
            for number, (name, overrides) in enumerate(configs.items()):
                row = {"config": name, "overrides": [*overrides, *COMMON]}
                row |= estimate(row["overrides"])
                row |= run(row["overrides"], Path(tmp) / f"job{number}")
                row["ratio"] = row["measured_s"] / row["predicted_s"]
                rows.append(row)
                print(f"{name}: predicted {row['predicted_s']:.1f} s, measured {row['measured_s']:.1f} s, "
                      f"ratio {row['ratio']:.2f}", flush=True)  # fmt: skip
        finally:
            if previous is None:
                os.environ.pop("EXPERIMENTS_CALIBRATION", None)
            else:
                os.environ["EXPERIMENTS_CALIBRATION"] = previous
    report = {
        "command": command("bench_time_estimate.py"),
        "machine": torch_machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "calibration": rate.__dict__,
        "rows": rows,
    }
    lines = [
        "# Time estimate against measured wall time",
        "",
        header(report),
        f"Calibration: {rate.train_flops_per_s / 1e9:.2f} GFLOP/s training, {rate.eval_flops_per_s / 1e9:.2f} "
        f"GFLOP/s evaluation, {rate.overhead_s:.1f} s per job ({rate.source}).",
        "",
        "| config | predicted s | measured s (job) | measured / predicted | fit s | process s |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {r['config']} | {r['predicted_s']:.1f} | {r['measured_s']:.1f} | {r['ratio']:.2f} | "
            f"{r['fit_s']:.1f} | {r['process_s']:.1f} |"
            for r in rows
        ),
        "",
    ]
    save("time_estimate", report, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
