"""The time estimate of a sweep's jobs: in the dry run (each job and the total) and before a sweep starts.

The arithmetic and the calibration are :mod:`experiments.sweeps.time_estimate`'s; measuring the machine
(once, when there is no calibration and no finished run) imports torch, so it comes after the dry run's
torch-free lines, and ``--help`` and composing never reach it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from experiments.sweeps.grid import UpFrontCheck
from experiments.sweeps.time_estimate import (
    JobTime,
    Rate,
    calibration_file,
    device_kind,
    duration,
    job_time,
    parallel_seconds,
    rate_for,
    read_rates,
)


def _flops(cfg: DictConfig) -> float:
    """Forward FLOPs per image of the job's network (the layer table; built once per distinct network)."""
    from experiments.cli.layers_command import network_totals

    return float(network_totals(cfg)["flops"])


def _rate(cfg: DictConfig) -> tuple[str, Rate | None]:
    kind = device_kind(cfg, read_rates())
    if kind not in read_rates() and not (kind == "auto" and read_rates()):
        print(f"(Measuring this machine's speed once for time estimates; saved in {calibration_file()}.)",
              flush=True)  # fmt: skip
    return rate_for(kind, Path("outputs"))  # the runs under ./outputs (hydra.run.dir, hydra.sweep.dir)


def _estimates(check: UpFrontCheck) -> tuple[list[JobTime | None], str, Rate | None]:
    runnable = [c for n, c in enumerate(check.configs) if c is not None and n not in check.identical]
    if not runnable:
        return [], "", None
    sys.stdout.flush()
    kind, rate = _rate(runnable[0])
    if rate is None:
        return [], kind, None
    times = [
        job_time(cfg, _flops(cfg), rate) if cfg is not None and n not in check.identical else None
        for n, cfg in enumerate(check.configs)
    ]
    return times, kind, rate


def _later_stages(check: UpFrontCheck, times: list[JobTime | None]) -> tuple[list[float], list[float]]:
    """A fair study's stage 2 jobs and its possible extra seeds (stage 3): each arm's mean tuning job."""
    from experiments.sweeps.fair_plan import arm_twins, evaluation_jobs, tuning_jobs

    fair = check.fair
    assert fair is not None
    per_arm: dict[int, list[float]] = {}
    for job, estimate in zip(tuning_jobs(fair), times):
        if estimate is not None:
            per_arm.setdefault(job.arm, []).append(estimate.seconds)
    known = [s for values in per_arm.values() for s in values]
    mean = sum(known) / len(known) if known else 0.0
    arm_mean = {arm: sum(v) / len(v) for arm, v in per_arm.items()}
    twins = arm_twins(fair, check.identical)  # an arm that builds an earlier arm's network reuses its records
    stage2 = [arm_mean.get(job.arm, mean) for job in evaluation_jobs(fair, [0] * len(fair.arms))
              if job.arm not in twins]
    extra = [arm_mean.get(arm, mean) for arm in range(len(fair.arms)) if arm not in twins
             for _ in range(fair.extra_per_arm)]
    return stage2, extra


def _what(estimate: JobTime) -> str:
    images = estimate.images
    upto = "up to " if estimate.up_to else ""
    return (
        f"{upto}~{duration(estimate.seconds)}  ({upto}{estimate.epochs} epoch(s) x {images['train']:,} train"
        f" + {images['val']:,} val images, {images['test']:,} test)"
    )


def print_time_estimate(check: UpFrontCheck, per_job: bool = True) -> None:
    """Each job's estimated time (with ``per_job``) and the sweep's total, sequential and in parallel."""
    times, kind, rate = _estimates(check)
    if rate is None or not any(times):
        if check.configs:
            print("\nTime estimate: none (no dataset of known size among the jobs, or no calibration).")
        return
    print(
        f"\nTime estimate on {kind} ({rate.train_flops_per_s / 1e9:.2f} GFLOP/s training, "
        f"{rate.eval_flops_per_s / 1e9:.2f} GFLOP/s evaluation, {rate.overhead_s:.1f} s per job; "
        f"{rate.source} {rate.when}, {calibration_file()}):"
    )
    if per_job:
        for number, estimate in enumerate(times):
            if estimate is not None:
                print(f"  job {number:>3}  {_what(estimate)}")
    seconds = [t.seconds for t in times if t is not None]
    unknown = sum(1 for n, c in enumerate(check.configs) if c is not None and n not in check.identical
                  and times[n] is None)  # fmt: skip
    extra: list[float] = []
    if check.fair is not None:
        stage2, extra = _later_stages(check, times)
        seconds += stage2
    up_to = any(t is not None and t.up_to for t in times)
    workers = check.parallel
    total = f"{'up to ' if up_to else ''}~{duration(sum(seconds))} for {len(seconds)} jobs in a row"
    if workers > 1:
        total += f", ~{duration(parallel_seconds(seconds, workers))} with {workers} at once (hydra.launcher)"
    if check.fair is not None:
        total += f" (the fair study's stages 1 and 2: {len(check.jobs)} tuning jobs listed above, then the rest)"
    print(f"Total: {total}.")
    if extra:
        print(f"Then up to {len(extra)} extra-seed jobs (stage 3): up to ~{duration(sum(extra))} more in a row.")
    if unknown:
        print(f"{unknown} job(s) have no estimate: their dataset's size is not known before it is read.")
    if up_to:
        print("Up to: early stopping may end a job before trainer.max_epochs.")
    if workers > 1 and kind == "cpu":
        print("On the CPU, jobs that run at once share its cores: the parallel time is a lower bound.")


def print_run_estimate(cfg: DictConfig) -> None:
    """One line as a single run starts: its estimated time (a run of a dataset of unknown size: nothing).
    Never fails the run: an estimate it cannot make is left out."""
    try:
        kind, rate = _rate(cfg)
        estimate = job_time(cfg, _flops(cfg), rate) if rate is not None else None
    except Exception:
        return
    if estimate is not None:
        print(f"Estimated time on {kind}: {_what(estimate)}", flush=True)


def print_sweep_estimate(check: UpFrontCheck) -> None:
    """One line before a sweep starts: its total estimated time (the dry run lists each job's)."""
    print_time_estimate(check, per_job=False)
