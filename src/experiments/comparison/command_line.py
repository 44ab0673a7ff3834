"""``experiments compare PATH...`` (also ``python -m experiments compare`` and ``python -m experiments.comparison``):
the command line of :func:`~experiments.comparison.pipeline.compare`, then the terminal table."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.comparison.analysis.grouping import IGNORED_KEYS
from experiments.comparison.pipeline import COMMAND, ReportDirError, compare, default_out

EPILOG = """\
PATH is a sweep dir (outputs/multirun/<day>/<time>), a run dir, a W&B dir or run file
(<run dir>/wandb, offline-run-*/, run-*.wandb), or entity/project[/group] on W&B (needs credentials).
Writes report.md, report.html (self-contained), runs.csv, summary.json and PNG plots to --out.
Exit status: 0 when at least one run finished, 1 when none did, 2 when no run was found or the
report cannot be written (a read-only sweep dir: write it elsewhere with -o DIR), or when -o DIR holds
files that compare did not write (add --overwrite to write over them).
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=COMMAND,
        description="Compare runs of a sweep: statistics over seeds, plots and a report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "-o", "--out", type=Path, help="output dir (default: <first PATH>/compare where it is a local dir, else ./compare)"
    )
    parser.add_argument(
        "--metric",
        default="test/acc",
        help="primary metric (default: test/acc); higher is better except for losses, probe/gap_*, probe/ece "
        "and probe/dead_units*",
    )
    parser.add_argument(
        "--group-by", nargs="+", metavar="KEY", help="override keys to group by (default: those that vary)"
    )
    parser.add_argument(
        "--ignore",
        nargs="+",
        metavar="KEY",
        default=[],
        help=f"keys never to group by, besides {', '.join(IGNORED_KEYS)}",
    )
    parser.add_argument(
        "--test", choices=("welch", "bootstrap"), default="welch", help="test against the best group"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level after Holm's correction"
    )
    parser.add_argument(
        "--sesoi",
        type=float,
        metavar="POINTS",
        help="smallest effect of interest in accuracy points (default: compare.sesoi of the runs' configs "
        "where they agree, else 0.5); for a loss, in its own unit (no default)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into --out even where it holds files that compare did not write",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (faster)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no terminal table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from experiments.comparison.analysis.metric_kind import metric_kind

    raw = not metric_kind(args.metric).fraction
    if args.sesoi is not None and raw and not 0 < args.sesoi < math.inf:
        print(f"compare: --sesoi must be a positive number in {args.metric}'s unit, e.g. --sesoi 0.05", file=sys.stderr)
        return 2
    if args.sesoi is not None and not raw and not 0 < args.sesoi < 100:
        print("compare: --sesoi must be a number of accuracy points in (0, 100), e.g. --sesoi 0.5", file=sys.stderr)
        return 2
    given = sys.argv[1:] if argv is None else argv
    command = f"{COMMAND} " + " ".join(shlex.quote(a) for a in given)
    out = args.out or default_out(args.paths)
    try:
        report = compare(
            args.paths,
            out,
            metric=args.metric,
            group_by=args.group_by,
            ignore=args.ignore,
            test=args.test,
            alpha=args.alpha,
            plots=not args.no_plots,
            command=command,
            overwrite=args.overwrite,
            sesoi=args.sesoi,
        )
    except (FileNotFoundError, ValueError, ReportDirError) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        from experiments.comparison.writers.terminal import print_table

        print_table(report)
    print(
        f"Report: {out / 'report.html'} (also report.md, runs.csv, summary.json, {len(report.plots)} plots)"
    )
    return 0 if any(r.ok for r in report.runs) else 1
