"""``experiments -m ... sweep.dry_run=true``: every job of the sweep, checked and sized, and nothing started."""

from __future__ import annotations

from omegaconf import DictConfig

from experiments.cli.disk import print_disk
from experiments.cli.time_lines import print_time_estimate
from experiments.sweeps.grid import UpFrontCheck


def print_dry_run(check: UpFrontCheck) -> int:
    """List each job (number, overrides, ok or its error, parameters and MFLOPs); 2 if any job is invalid."""
    numbered = [line for line in check.problems if line.split(" ", 2)[1].isdigit()]
    errors = {int(line.split(" ", 2)[1]): line.split(": ", 1)[1] for line in numbered}
    later = [line for line in check.problems if line not in numbered]  # a fair study's later stages
    fixed = [o for o in check.jobs[0] if all(o in job for job in check.jobs)] if check.jobs else []
    print(f"Every job: {' '.join(o for o in fixed if not o.startswith('sweep.')) or '(the defaults)'}")
    rows = []
    for number, (job, cfg) in enumerate(zip(check.jobs, check.configs)):
        overrides = " ".join(o for o in job if o not in fixed) or "(defaults)"
        if cfg is None:
            rows.append((str(number), overrides, f"invalid: {errors.get(number, '?')}", "", ""))
            continue
        if number in check.identical:
            earlier = check.identical[number]
            rows.append(
                (str(number), overrides, f"same experiment as job {earlier}: not worth running", "", "")
            )
            continue
        params, mflops = _size(cfg)
        rows.append((str(number), overrides, "ok", f"{params:,}", f"{mflops:,.2f}"))
    widths = [
        max(len(r[i]) for r in [("job", "overrides", "check", "params", "MFLOPs"), *rows]) for i in range(5)
    ]
    header = ("job", "overrides", "check", "params", "MFLOPs")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    invalid, same = len(check.problems), len(check.identical)
    print(
        f"\n{len(check.jobs)} jobs: {len(check.jobs) - invalid - same} to run, {invalid} invalid, "
        f"{same} the same experiment as an earlier job. Dry run: no job was started, no run dir was made."
    )
    print_disk(check)  # cli/disk.py: the disk a job and the sweep take at their peak
    if check.fair is not None:
        print_later_stages(check)
    for line in later:
        print(f"invalid: {line}")
    if same:
        print(
            "Same experiment: max and min pooling commute with a monotone activation (relu, tanh, ...), "
            "so both block orders build the same network; or two option names hold equal values (constant "
            "padding with the value 0 is zero padding)."
        )
    print_time_estimate(check)  # cli/time_lines.py: after the torch-free lines (it may calibrate)
    return 2 if invalid else 0


def print_later_stages(check: UpFrontCheck) -> None:
    """A fair study's jobs after the tuning stage (listed above): their overrides wait on the choices."""
    from experiments.sweeps.fair_plan import evaluation_jobs, planned_total

    fair = check.fair
    assert fair is not None
    keys = " ".join(f"{key}=<chosen in the tuning stage>" for key in fair.tuned_keys)
    if fair.tuning_seeds:
        print(
            f"\nThe {len(check.jobs)} jobs above are the tuning stage (stage=tune, seeds {fair.tuning_seeds}, "
            f"scored on {fair.metric}). Then, once every arm has its choice:"
        )
    else:
        print("\nNo tuning stage (hydra.sweeper.tune is empty): every arm at the config's own setting:")
    for job in evaluation_jobs(fair, [0] * len(fair.arms)):
        arm = " ".join(fair.arms[job.arm]) or "(one arm)"
        if job.stage == "best":
            what = f"{keys} seed={job.seed}"
        else:
            point = check.shared_points.get(job.arm)
            where = f"grid point {point}: reused where chosen" if point is not None else "not in the grid"
            what = f"the config's own {', '.join(fair.tuned_keys)} ({where}) seed={job.seed}"
        print(f"  {job.number:>4}  {job.stage:<6}  {arm}  {what}")
    extra = ""
    if fair.extra_per_arm:
        extra = (
            f"; then up to {fair.extra_per_arm} extra seed(s) per arm ({fair.extra_seeds()}) for arms whose "
            "interval is wider than compare.sesoi allows"
        )
    print(f"{planned_total(fair)} jobs in stages 1 and 2{extra}.")


def _size(cfg: DictConfig) -> tuple[int, float]:
    """Parameters and forward MFLOPs per image of the job's network (built once per distinct network)."""
    from experiments.cli.layers_command import network_totals

    totals = network_totals(cfg)
    return int(totals["params"]), totals["flops"] / 1e6
