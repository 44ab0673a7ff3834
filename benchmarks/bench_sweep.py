"""Sweep efficiency: how much of a whole ``-m`` sweep's wall time is training, sequential and in parallel.

Each variant is the real command line, ``python -m experiments -m ...`` in a fresh process, timed from
start to exit; the jobs' ``train_seconds`` (the training epochs, from each ``results.json``) are summed:

* ``digits``: ``-m pooling=max,avg,min,lp seed=0,1`` (8 jobs, LeNet-5, 10 epochs each; target >= 60 %
  training, per-job overhead under ~0.5 s);
* ``mnist``: ``-m data=mnist trainer.max_epochs=1 pooling=max,avg,min activation=relu,tanh seed=0,1``
  (12 jobs of 1 epoch; target >= 85 %).

Variants of each sweep, run in turn in the same session:

* ``sequential``: the defaults;
* ``sequential_before``: the defaults that #18 changed put back where a key can (``plots=true``: every
  job draws its PNGs; ``hydra/sweeper=basic``: Hydra composes each job a second time;
  ``data.eval_batch_size=null``: val/test at the training batch); ``threads=auto``'s 0.2 s wait per job
  is not a key, so it is not put back;
* ``parallel``: ``hydra/launcher=parallel hydra.launcher.n_jobs=2`` (target >= 1.6x the sequential
  sweep's wall time on 2 cores).

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/bench_sweep.py [--quick] [--only digits] [--repeats 3]

``--quick`` runs a 2-job, 1-epoch digits sweep only, once per variant, without the warm-up job. Writes benchmarks/results/sweep.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import command, machine, save  # benchmarks/report.py, beside this script

from experiments.records.run_record import RunRecord

SWEEPS = {
    "digits": ["pooling=max,avg,min,lp", "seed=0,1"],
    "mnist": [
        "data=mnist",
        "trainer.max_epochs=1",
        "pooling=max,avg,min",
        "activation=relu,tanh",
        "seed=0,1",
    ],
}
QUICK = {"digits": ["pooling=max,avg", "seed=0", "trainer.max_epochs=1"]}
VARIANTS = {
    "sequential": [],
    "sequential_before": ["plots=true", "hydra/sweeper=basic", "data.eval_batch_size=null"],
    "parallel": ["hydra/launcher=parallel", "hydra.launcher.n_jobs=2"],
}
TARGETS = {"digits": 0.60, "mnist": 0.85}
REPEATS = {"digits": 3, "mnist": 1}  # a 12-job MNIST round takes ~6 min here
PARALLEL_TARGET = 1.6


def run_sweep(args: list[str], sweep_dir: Path, env: dict[str, str]) -> dict:
    """Run one sweep to completion; its wall time and the jobs' summed training time."""
    argv = [sys.executable, "-m", "experiments", "-m", *args, f"hydra.sweep.dir={sweep_dir}"]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=sweep_dir.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit code {done.returncode}\n{done.stderr[-3000:]}")
    records = [RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(sweep_dir)]
    failed = [f"{r.path}: {r.status} {r.error or ''}" for r in records if not r.ok]
    if not records or failed:
        raise RuntimeError(f"{' '.join(argv)}: no job records, or jobs not ok: {failed}")
    train = sum(r.train_seconds or 0.0 for r in records)
    fit = sum(r.fit_time_s or 0.0 for r in records)
    return {
        "command": "python -m experiments -m " + " ".join(args),
        "jobs": len(records),
        "wall_s": round(wall, 2),
        "train_seconds": round(train, 2),
        "fit_seconds": round(fit, 2),
        "training_fraction": round(train / wall, 3),
        "overhead_per_job_s": round((wall - train) / len(records), 3),
        "threads": sorted({(r.device or {}).get("cpu_threads") for r in records}),
    }


def median_round(runs: list[dict]) -> dict:
    """The round with the median wall time (its own training time and fraction), with every round's walls."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_wall_s": [r["wall_s"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 2-job, 1-epoch digits sweep only, no warm-up")
    parser.add_argument("--only", nargs="+", choices=sorted(SWEEPS), default=None)
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds of the variants, in turn (default: digits 3, mnist 1)",
    )
    args = parser.parse_args()
    sweeps = QUICK if args.quick else {k: v for k, v in SWEEPS.items() if not args.only or k in args.only}
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    env = {
        **{k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"},
        "WANDB_MODE": "disabled",
        "EXPERIMENTS_CACHE_DIR": str(work / "cache"),
    }
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for name, sweep in sweeps.items():
        # One job first: the decoded-data cache and .pyc files are warm for every variant alike.
        data = [a for a in sweep if a.startswith("data=")]
        if not args.quick:
            run_sweep(
                [*data, "trainer.max_epochs=1", "trainer.limit_train_batches=2"], work / f"{name}-warmup", env
            )
        rounds: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
        for round_ in range(args.repeats or (1 if args.quick else REPEATS[name])):
            for variant, extra in VARIANTS.items():
                result = run_sweep([*sweep, *extra], work / f"{name}-{variant}-{round_}", env)
                rounds[variant].append(result)
                print(f"{name} {variant}: {result['wall_s']} s wall, {result['train_seconds']} s training "
                      f"({100 * result['training_fraction']:.0f} %)", flush=True)  # fmt: skip
        results[name] = {variant: median_round(runs) for variant, runs in rounds.items()}
        sequential, parallel = results[name]["sequential"], results[name]["parallel"]
        results[name]["parallel_speedup"] = round(sequential["wall_s"] / parallel["wall_s"], 3)
        results[name]["cuts_speedup"] = round(
            results[name]["sequential_before"]["wall_s"] / sequential["wall_s"], 3
        )
    report = {
        "command": command("bench_sweep.py"),
        "quick": args.quick,
        "repeats": {name: args.repeats or (1 if args.quick else REPEATS[name]) for name in sweeps},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "targets": {"training_fraction": TARGETS, "parallel_speedup": PARALLEL_TARGET},
        "results": results,
    }
    save("sweep", report, markdown(report))


def markdown(report: dict) -> str:
    host = report["machine"]
    lines = [
        "# Sweep efficiency: training time over a whole sweep's wall time",
        "",
        f"Command: `{report['command']}`. {host['cpus']} CPUs, Python {host['python']}, load average "
        f"{report['load_average_before'][0]:.1f} before and {report['load_average_after'][0]:.1f} after. "
        "Each sweep is one `python -m experiments -m ...` process, timed from start to exit (imports "
        "included); training is the jobs' `train_seconds` summed from their run records. "
        f"Rounds of the variants in turn: {', '.join(f'{k} {v}' for k, v in report['repeats'].items())}; each row "
        "is the round with the median wall time (every round's wall time in the last column).",
        "",
        "| sweep | variant | jobs | wall s | training s | training % | target % | overhead s/job | threads | rounds s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, variants in report["results"].items():
        target = report["targets"]["training_fraction"].get(name)
        for variant in VARIANTS:
            r = variants[variant]
            shown = f"{100 * target:.0f}" if target and variant == "sequential" else ""
            overlap = (
                variant == "parallel"
            )  # jobs run side by side: their training seconds add up past the wall
            share = "- (overlap)" if overlap else f"{100 * r['training_fraction']:.0f}"
            per_job = "-" if overlap else f"{r['overhead_per_job_s']:.2f}"
            lines.append(
                f"| {name} | {variant} | {r['jobs']} | {r['wall_s']:.1f} | {r['train_seconds']:.1f} | "
                f"{share} | {shown} | {per_job} | "
                f"{', '.join(map(str, r['threads']))} | {', '.join(f'{w:.1f}' for w in r['rounds_wall_s'])} |"
            )
    lines += [
        "",
        "| sweep | parallel (2 jobs) vs sequential | target | the cuts: before vs now |",
        "|---|---|---|---|",
    ]
    for name, variants in report["results"].items():
        lines.append(
            f"| {name} | {variants['parallel_speedup']:.2f}x | {PARALLEL_TARGET}x | {variants['cuts_speedup']:.2f}x |"
        )
    commands = {
        v["command"] for variants in report["results"].values() for k, v in variants.items() if k in VARIANTS
    }
    lines += ["", "Commands:", "", *(f"- `{c}`" for c in sorted(commands)), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
