"""What the probes cost: the default run (``python -m experiments``) against ``probes=all`` and ``probes=cheap``.

Each variant is a fresh process (imports, data, fit, test, probes, records), the variants alternated in
every round so that load from other jobs on a shared machine falls on all alike. Reports the median,
min and max wall time of each, the ratio of its median to the default's (target: ``probes=all`` adds at
most 10 %), and the probes' own seconds as each run's ``results.json`` records them. The default setting
is ``probes=none``, so the default run is the baseline.

    python benchmarks/bench_probes.py [--quick] [--repeats N]

``--quick``: one round of one-epoch runs, the default and ``probes=all`` only. Writes benchmarks/results/probes.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import command, machine, save  # benchmarks/report.py, beside this script

from experiments.records.run_record import RunRecord

VARIANTS = {"default": [], "probes=cheap": ["probes=cheap"], "probes=all": ["probes=all"]}
TARGET = 1.10


def run_once(overrides: list[str], cwd: Path, run_dir: Path) -> tuple[float, float | None]:
    """Wall time of one ``python -m experiments`` process, and its probes' share of the job's own wall time
    (both from its record: the same process, so load falls on both alike)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "experiments", *overrides, f"hydra.run.dir={run_dir}"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{overrides}: exit code {done.returncode}:\n{done.stderr[-2000:]}")
    record = RunRecord.read(run_dir)
    seconds = (record.probes or {}).get("seconds")
    return elapsed, None if seconds is None or not record.wall_time_s else seconds / record.wall_time_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round of one-epoch runs")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 5)
    extra = ["trainer.max_epochs=1"] if args.quick else []
    load_before = os.getloadavg()
    cwd = Path(tempfile.mkdtemp(prefix="bench-probes-"))
    variants = {k: v for k, v in VARIANTS.items() if k != "probes=cheap" or not args.quick}
    times: dict[str, list[float]] = {name: [] for name in variants}
    probe_share: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(repeats):
        for name, overrides in variants.items():
            run_dir = cwd / f"{name.replace('=', '-')}-{round_}"
            elapsed, share = run_once([*overrides, *extra], cwd, run_dir)
            times[name].append(elapsed)
            if share is not None:
                probe_share[name].append(share)
            shown = "" if share is None else f" (probes {share:.1%} of the job)"
            print(f"round {round_ + 1}/{repeats} {name}: {elapsed:.2f} s{shown}", flush=True)
    base = statistics.median(times["default"])
    results = {}
    for name in variants:
        median = statistics.median(times[name])
        results[name] = {
            "overrides": variants[name] + extra,
            "times_s": [round(t, 3) for t in times[name]],
            "median_s": round(median, 3),
            "min_s": round(min(times[name]), 3),
            "max_s": round(max(times[name]), 3),
            "ratio_to_default": round(median / base, 3),
            "probe_share_median": round(statistics.median(probe_share[name]), 4)
            if probe_share[name]
            else None,
            "probe_shares": [round(x, 4) for x in probe_share[name]],
        }
    report = {
        "command": command("bench_probes.py"),
        "quick": args.quick,
        "repeats": repeats,
        "target_ratio": TARGET,
        "met": results["probes=all"]["ratio_to_default"] <= TARGET
        and results["probes=all"]["probe_share_median"] <= TARGET - 1,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "results": results,
    }
    save("probes", report, markdown(report))


def markdown(report: dict) -> str:
    host = report["machine"]
    lines = [
        "# Probes: what they add to the default run",
        "",
        f"Command: `{report['command']}`. {host['cpus']} CPUs, Python {host['python']}, load average "
        f"{report['load_average_before'][0]:.1f} before and {report['load_average_after'][0]:.1f} after. "
        f"{report['repeats']} rounds, the variants alternated; wall time of the whole process (imports, data, "
        "fit, test, probes, records). Probes' share: the probes' own seconds over the job's own wall time, "
        "both from each run's record (one process, so the machine's load falls on both alike; the ratio of "
        "process wall times is the noisier number on a shared machine).",
        "",
        "| variant | median s | min s | max s | ratio to default | probes' share of the job (median) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in report["results"].items():
        seconds = "" if r["probe_share_median"] is None else f"{r['probe_share_median']:.1%}"
        lines.append(
            f"| `{name}` | {r['median_s']} | {r['min_s']} | {r['max_s']} | {r['ratio_to_default']} | {seconds} |"
        )
    met = "met" if report["met"] else "**not met**"
    lines += [
        "",
        f"Target: `probes=all` at most {report['target_ratio']:.2f} x the default run (the wall-time ratio and the "
        f"probes' share): {met}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
