"""Where a sweep's wall time goes: ``python -m experiments -m ARGS`` in this process, phases clocked.

Each phase below is a function of experiments, Hydra or Lightning wrapped with a wall clock (calls and
seconds summed over the sweep; phases nest, so they do not add up); ``imports`` is ``import
pytorch_lightning`` (torch, torchmetrics, torchvision) and sklearn before the sweep starts.

    EXPERIMENTS_DATA_DIR=/path/to/data python benchmarks/profile_sweep.py -m pooling=max,avg,min,lp seed=0,1

Writes benchmarks/results/sweep_profile.{json,md} (``--name`` another name).
"""

from __future__ import annotations

import argparse
import importlib
import os
import runpy
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from report import machine, save  # benchmarks/report.py, beside this script

from experiments.records.run_record import RunRecord

PHASES = {  # "module[:Class]", function -> what it is
    ("experiments.cli.train", "run_sweep"): "the whole sweep after imports",
    ("experiments.sweeps.grid", "check_sweep"): "up-front check: every job composed and validated",
    ("hydra._internal.config_loader_impl:ConfigLoaderImpl", "load_sweep_config"): "Hydra composes a job",
    ("hydra.core.utils", "run_job"): "Hydra's job (its output dir, .hydra files, logging) around ours",
    ("experiments.training.job", "run_job"): "our job: records, loggers, recipe",
    ("experiments.training.threads", "idle_cores"): "threads=auto: idle cores",
    ("experiments.training.loggers", "build_loggers"): "loggers built",
    ("pytorch_lightning.trainer.trainer:Trainer", "__init__"): "Trainer construction",
    ("experiments.training.recipe", "record_model"): "parameters, FLOPs, layer table",
    ("pytorch_lightning.trainer.trainer:Trainer", "fit"): "Trainer.fit",
    ("experiments.data.datamodule:ClassificationData", "setup"): "data: decode or cache, split",
    ("pytorch_lightning.loops.training_epoch_loop:_TrainingEpochLoop", "advance"): "training steps",
    (
        "pytorch_lightning.loops.evaluation_loop:_EvaluationLoop",
        "run",
    ): "sanity check, validation, test loops",
    ("pytorch_lightning.loops.fit_loop:_FitLoop", "on_advance_end"): "epoch end: checkpoints",
    ("pytorch_lightning.trainer.trainer:Trainer", "test"): "Trainer.test (best checkpoint, test loop)",
    ("experiments.training.recipe", "record_plots"): "per-run plots",
    ("experiments.records.record_writer:RecordWriter", "update"): "the job's record rewritten",
}


def clock(seconds: dict[str, float], calls: dict[str, int]) -> None:
    """Wrap every phase's function so that its calls and wall time are summed under its name."""
    for (where, name), _ in PHASES.items():
        module, _, owner = where.partition(":")
        target = importlib.import_module(module)
        holder = getattr(target, owner) if owner else target
        original = getattr(holder, name)
        key = f"{where}.{name}"

        def timed(*args: Any, _original=original, _key=key, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                seconds[_key] += time.perf_counter() - start
                calls[_key] += 1

        setattr(holder, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="sweep_profile", help="results/<name>.{json,md}")
    args, sweep = parser.parse_known_args()
    command = " ".join(["python", "benchmarks/profile_sweep.py", *sys.argv[1:]])
    started = time.perf_counter()
    import pytorch_lightning  # noqa: F401
    import sklearn.datasets  # noqa: F401

    imports = time.perf_counter() - started
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    clock(seconds, calls)
    sweep_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"profile-sweep-{os.getpid()}"
    sys.argv = ["experiments", *sweep, f"hydra.sweep.dir={sweep_dir}"]
    try:
        runpy.run_module("experiments", run_name="__main__")
    except SystemExit as done:
        if done.code not in (0, None):
            raise
    wall = time.perf_counter() - started
    records = [RunRecord.read(p.parent) for p in RunRecord.files_of_sweep(sweep_dir)]
    train = sum(r.train_seconds or 0.0 for r in records)
    phases = [
        {"phase": key, "what": PHASES[tuple(key.rsplit(".", 1))], "calls": calls[key], "seconds": round(s, 3)}
        for key, s in sorted(seconds.items(), key=lambda kv: -kv[1])
    ]
    report = {
        "command": command,
        "sweep": "python -m experiments " + " ".join(sweep),
        "jobs": len(records),
        "wall_s": round(wall, 2),
        "imports_s": round(imports, 2),
        "train_seconds": round(train, 2),
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "phases": phases,
    }
    save(args.name, report, markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    jobs = report["jobs"] or 1
    lines = [
        f"# Where a sweep's time goes: `{report['sweep']}`",
        "",
        f"Command: `{report['command']}`. {report['machine']['cpus']} CPUs, load average "
        f"{report['load_average_after'][0]:.1f} after. {report['jobs']} jobs, {report['wall_s']} s in this process "
        f"({report['imports_s']} s of it importing pytorch_lightning and sklearn), {report['train_seconds']} s of "
        "training (`train_seconds`). Phases nest (the fit holds the training steps), so they do not add up.",
        "",
        "| phase | what | calls | s | s per job |",
        "|---|---|---|---|---|",
        f"| imports | torch, Lightning (torchmetrics, torchvision), sklearn | 1 | {report['imports_s']} | |",
        *(
            f"| `{p['phase']}` | {p['what']} | {p['calls']} | {p['seconds']:.2f} | {p['seconds'] / jobs:.3f} |"
            for p in report["phases"]
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
