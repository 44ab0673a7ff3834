"""Start-up time of the command line against a bare ``python -c pass``, run side by side.

Commands (each a fresh process, rounds interleaved so that load on a shared machine falls on all alike):

* ``baseline``: ``python -c pass`` (the interpreter alone);
* ``help``: ``python -m experiments --help`` (target <= 1 s);
* ``cfg_job``: ``python -m experiments --cfg job`` (target <= 1 s);
* ``bad_config``: ``python -m experiments optimizer.lr=-1`` (exit code 2, one line; target <= 1.5 s).

Reports median, min and max wall time of the repeats and the median net of the baseline. For a
command that misses its target, ``python -X importtime`` is run once and the slowest imports
(cumulative) are recorded, with a cProfile of the slowest functions.

    python benchmarks/bench_startup.py [--quick] [--repeats N]

Writes benchmarks/results/startup.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from report import machine, save  # benchmarks/report.py, beside this script

COMMANDS = {
    "baseline": (["-c", "pass"], None, 0),
    "help": (["-m", "experiments", "--help"], 1.0, 0),
    "cfg_job": (["-m", "experiments", "--cfg", "job"], 1.0, 0),
    "bad_config": (["-m", "experiments", "optimizer.lr=-1"], 1.5, 2),
}


def run_once(args: list[str], cwd: str, expect: int) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        raise RuntimeError(f"{args}: exit code {done.returncode}, expected {expect}:\n{done.stderr[-2000:]}")
    return elapsed


def top_imports(args: list[str], cwd: str, count: int = 12) -> list[dict]:
    """The ``count`` imports with the largest cumulative time under ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], cwd=cwd, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|", 2)
        rows.append(
            {"module": name.strip(), "self_ms": int(own) / 1000, "cumulative_ms": int(cumulative) / 1000}
        )
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:count]


def top_functions(args: list[str], cwd: str, count: int = 8) -> list[str]:
    """The ``count`` functions with the largest cumulative time under cProfile (one run)."""
    script = (
        "import cProfile, pstats, runpy, sys, io\n"
        f"sys.argv = ['experiments', *{args[2:]!r}]\n"
        "p = cProfile.Profile(); p.enable()\n"
        "try:\n    runpy.run_module('experiments', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "p.disable(); s = io.StringIO(); pstats.Stats(p, stream=s).sort_stats('cumulative').print_stats(40)\n"
        "sys.stderr.write(s.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True)
    lines = [ln for ln in done.stderr.splitlines() if "{" not in ln and ("hydra" in ln or "copy.py" in ln)]
    return [" ".join(ln.split()) for ln in lines[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat instead of 5, no warm-up round")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 5)
    load_before = os.getloadavg()
    cwd = tempfile.mkdtemp(prefix="bench-startup-")  # the CLI creates ./outputs; keep it out of the repo
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv, _, expect in [] if args.quick else COMMANDS.values():  # warm the file cache and .pyc files
        run_once(argv, cwd, expect)
    for _ in range(repeats):
        for name, (argv, _, expect) in COMMANDS.items():
            times[name].append(run_once(argv, cwd, expect))
    baseline = statistics.median(times["baseline"])
    results = {}
    for name, (argv, target, _) in COMMANDS.items():
        median = statistics.median(times[name])
        result = {
            "command": "python " + " ".join(argv),
            "times_s": [round(t, 3) for t in times[name]],
            "median_s": round(median, 3),
            "min_s": round(min(times[name]), 3),
            "max_s": round(max(times[name]), 3),
            "net_of_baseline_s": round(median - baseline, 3),
            "target_s": target,
            "met": None if target is None else median <= target,
        }
        if target is not None and median > target * 0.75:  # missed or close: say where the time goes
            result["top_imports"] = top_imports(argv, cwd)
            result["top_functions"] = top_functions(argv, cwd)
        results[name] = result
        print(f"{name}: median {result['median_s']} s (min {result['min_s']}, max {result['max_s']}), "
              f"target {target} -> {result['met']}", flush=True)  # fmt: skip
    report = {
        "command": " ".join(["python", "benchmarks/bench_startup.py", *sys.argv[1:]]),
        "quick": args.quick,
        "repeats": repeats,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "machine": machine(),
        "results": results,
    }
    save("startup", report, markdown(report))


def markdown(report: dict) -> str:
    lines = [
        "# Start-up: the command line against `python -c pass`",
        "",
        f"Command: `{report['command']}`. {report['machine']['cpus']} CPUs, Python {report['machine']['python']}, "
        f"load average {report['load_average_before'][0]:.1f} before and {report['load_average_after'][0]:.1f} "
        f"after. {report['repeats']} runs of each command after one warm-up run, interleaved; wall time of the "
        "whole process.",
        "",
        "| command | median s | min s | max s | net of `python -c pass` s | target s | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"].values():
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        target = "" if r["target_s"] is None else f"<= {r['target_s']}"
        lines.append(
            f"| `{r['command']}` | {r['median_s']} | {r['min_s']} | {r['max_s']} | {r['net_of_baseline_s']} "
            f"| {target} | {met} |"
        )
    for r in report["results"].values():
        if "top_imports" in r:
            lines += ["", f"Slowest imports of `{r['command']}` (`-X importtime`, cumulative ms):", ""]
            lines += [f"- {i['module']}: {i['cumulative_ms']:.0f}" for i in r["top_imports"][:6]]
            if r.get("top_functions"):
                lines += ["", "cProfile, cumulative (ncalls tottime percall cumtime percall function):", ""]
                lines += [f"- `{f}`" for f in r["top_functions"]]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
