"""``python -m experiments.compare PATH...``: collect runs, group them, test, plot and write the report."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from experiments.compare.collect import collect
from experiments.compare.csv_json import write_csv, write_json
from experiments.compare.html_report import write_html
from experiments.compare.markdown import write_markdown
from experiments.compare.report import Report
from experiments.compare.stats import IGNORED_KEYS, group_runs
from experiments.compare.terminal import print_table

EPILOG = """\
PATH is a sweep dir (outputs/multirun/<day>/<time>), a run dir, a W&B dir or run file
(<run dir>/wandb, offline-run-*/, run-*.wandb), or entity/project[/group] on W&B (needs credentials).
Writes report.md, report.html (self-contained), runs.csv, summary.json and PNG plots to --out.
Exit status: 0 when at least one run finished, 1 when none did, 2 when no run was found or the
report cannot be written (a read-only sweep dir: write it elsewhere with -o DIR).
"""


class ReportDirError(RuntimeError):
    """The output dir cannot be made or written (read-only, no permission, full)."""

    def __init__(self, out: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        super().__init__(
            f"cannot write the report to {out}: {reason}. Write it elsewhere with -o DIR (--out DIR), "
            f"e.g. -o ./compare"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="experiments compare",
        description="Compare runs of a sweep: statistics over seeds, plots and a report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument(
        "-o", "--out", type=Path, help="output dir (default: <PATH>/compare for one dir, else ./compare)"
    )
    parser.add_argument(
        "--metric", default="test/acc", help="primary metric, higher is better (default: test/acc)"
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
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (faster)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no terminal table")
    return parser.parse_args(argv)


def compare(
    paths: Sequence[str | Path],
    out: Path | None = None,
    *,
    metric: str = "test/acc",
    group_by: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    test: str = "welch",
    alpha: float = 0.05,
    plots: bool = True,
    command: str | None = None,
) -> Report:
    """Collect the runs under ``paths`` and write the report files into ``out``; returns the report.

    The trials of a search (Optuna) are listed trial by trial instead of grouped (compare.search)."""
    from experiments.compare.insights import insights, num_classes
    from experiments.compare.search import find_search, search_insights, trial_groups

    runs = collect(paths)
    if not runs:
        raise FileNotFoundError(f"no runs found under {', '.join(map(str, paths))}")
    out = out or default_out(paths)
    writable(out)
    ignored = (*IGNORED_KEYS, *ignore)
    search = None if group_by else find_search(runs, ignored)
    if search:
        keys, groups = search.keys, trial_groups(search, metric)
        found = search_insights(search, metric, num_classes(runs))
    else:
        keys, groups = group_runs(runs, group_by, ignored, metric, test, alpha)
        found = insights(groups, runs, keys, metric, alpha)
    report = Report(
        runs=runs,
        keys=keys,
        groups=groups,
        metric=metric,
        insights=found,
        command=command or "python -m experiments.compare " + " ".join(shlex.quote(str(p)) for p in paths),
        alpha=alpha,
        search=search,
    )
    if not search:
        from experiments.compare.effects import REFERENCES, effects_frame, factorial_effects
        from experiments.compare.settling import ranking_by_epoch, settling_sentence

        report.effects = factorial_effects(
            effects_frame(runs, keys, metric), keys, metric, alpha=alpha, reference=REFERENCES
        )
        report.settling = ranking_by_epoch(groups, keys)
        if report.settling:
            report.insights.append(settling_sentence(report.settling))
    try:
        if plots and search:
            from experiments.compare.search_plots import search_plots

            report.plots = search_plots(search, groups, metric, out)
        elif plots:
            from experiments.compare.plots import all_plots

            report.plots = all_plots(groups, metric, out)
            if report.effects:
                from experiments.compare.effects_plots import effects_plots

                report.plots.update(effects_plots(report.effects, out))
        write_csv(report, out / "runs.csv")
        write_json(report, out / "summary.json")
        write_markdown(report, out / "report.md")
        write_html(report, out / "report.html")
    except OSError as error:  # e.g. the disk filled up, or the dir became read-only, after the check
        raise ReportDirError(out, error) from error
    return report


def writable(out: Path) -> None:
    """Make ``out`` and write a probe file there, so that a read-only dir fails before any work."""
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as error:
        raise ReportDirError(out, error) from error


def default_out(paths: Sequence[str | Path]) -> Path:
    if len(paths) == 1 and Path(paths[0]).is_dir():
        return Path(paths[0]) / "compare"
    return Path("compare")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m experiments.compare " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
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
        )
    except (FileNotFoundError, ValueError, ReportDirError) as error:
        print(f"compare: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print_table(report)
    print(
        f"Report: {out / 'report.html'} (also report.md, runs.csv, summary.json, {len(report.plots)} plots)"
    )
    return 0 if any(r.ok for r in report.runs) else 1
