"""The comparison, room by room: collect (``sources``) -> analyse (``analysis``) -> write (``writers``).

:func:`compare` collects the RunRecords under the paths and hands them to one of two analyses: a grid
(:func:`analyse_grid`: groups of seeds tested against the best, the effects of the grid, the ranking by
epoch) or the trials of a search (:func:`analyse_search`: one row per trial, ranked by the study's
objective). Either gives a :class:`~experiments.comparison.report_model.Report`, which
:func:`write_report` draws and writes. No torch is imported.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from experiments.comparison.analysis.grouping import IGNORED_KEYS, group_runs
from experiments.comparison.analysis.search import Search
from experiments.comparison.report_model import Report
from experiments.comparison.sources.collect import collect
from experiments.records.run_record import RunRecord

#: The command a report says made it (followed by the paths).
COMMAND = "experiments compare"


#: Written into every report dir by compare: a later compare may write over it, not over a person's files.
MARKER = ".experiments-compare"


class ForeignReportDir(ValueError):
    """``-o DIR`` names a non-empty dir that compare did not write."""


def refuse_foreign_dir(out: Path) -> None:
    """Refuse to write into ``out`` where it holds files that compare did not write (``--overwrite`` allows it).

    Compare's own output is known by its marker file, or (reports written before the marker) by its
    ``summary.json``, whose ``command`` is a compare command."""
    from experiments.comparison.writers.csv_json import summary_command

    if not out.is_dir() or not any(p for p in out.iterdir() if not p.name.startswith(".write-check-")):
        return
    if (out / MARKER).is_file():
        return
    if summary_command(out).startswith(
        (COMMAND, "python -m experiments.compare")
    ):  # the latter: older reports
        return
    raise ForeignReportDir(
        f"{out} is not empty and holds no earlier compare report; write it elsewhere with -o DIR, "
        "or add --overwrite to write over its files"
    )


class ReportDirError(RuntimeError):
    """The output dir cannot be made or written (read-only, no permission, full)."""

    def __init__(self, out: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        super().__init__(
            f"cannot write the report to {out}: {reason}. Write it elsewhere with -o DIR (--out DIR), "
            f"e.g. -o ./compare"
        )


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
    overwrite: bool = False,
    sesoi: float | None = None,
) -> Report:
    """Collect the runs under ``paths`` and write the report files into ``out``; returns the report.

    The trials of a search (Optuna) are listed trial by trial instead of grouped (analysis.search)."""
    from experiments.comparison.analysis.search import find_search

    runs = collect(paths)
    if not runs:
        raise FileNotFoundError(f"no runs found under {', '.join(map(str, paths))}")
    out = out or default_out(paths)
    if not overwrite:
        refuse_foreign_dir(out)
    writable(out)
    command = command or f"{COMMAND} " + " ".join(shlex.quote(str(p)) for p in paths)
    ignored = (*IGNORED_KEYS, *ignore)
    search = None if group_by else find_search(runs, ignored)
    from experiments.comparison.analysis.fair_sets import is_fair_study

    if search:
        report = analyse_search(runs, search, metric=metric, alpha=alpha, command=command)
    elif not group_by and is_fair_study(runs):
        report = analyse_fair(
            runs, ignored, metric=metric, test=test, alpha=alpha, command=command,
            sesoi=margin(sesoi, runs, metric),
        )
    else:
        report = analyse_grid(
            runs, group_by, ignored, metric=metric, test=test, alpha=alpha, command=command,
            sesoi=margin(sesoi, runs, metric),
        )
    return write_report(report, out, plots=plots)


def analyse_grid(
    runs: list[RunRecord],
    group_by: Sequence[str] | None,
    ignored: Sequence[str],
    *,
    metric: str,
    test: str,
    alpha: float,
    command: str,
    sesoi: float | None = 0.5,
    with_test_set: bool = True,
) -> Report:
    """Runs of a grid of settings: groups of seeds against the best, the grid's effects, ranking by epoch
    (and, ``with_test_set``, the test-sampling intervals and paired tests on the test images)."""
    from experiments.comparison.analysis.answer import answer
    from experiments.comparison.analysis.effects import REFERENCES, effects_frame, factorial_effects
    from experiments.comparison.analysis.insights import insights
    from experiments.comparison.analysis.probe_curves import probe_curves
    from experiments.comparison.analysis.settling import ranking_by_epoch, settling_sentence

    keys, groups = group_runs(runs, group_by, ignored, metric, test, alpha)
    found = insights(groups, runs, keys, metric, alpha)
    effects = factorial_effects(
        effects_frame(runs, keys, metric, provenance=True),
        keys,
        metric,
        alpha=alpha,
        reference=REFERENCES,
        sesoi=sesoi,
    )
    settling = ranking_by_epoch(groups, keys)
    if settling:
        found.append(settling_sentence(settling))
    from experiments.comparison.analysis.test_set_groups import analyse_test_set

    return Report(
        test_set=analyse_test_set(groups, metric=metric) if with_test_set and metric.startswith("test/acc") else None,
        runs=runs,
        keys=keys,
        groups=groups,
        metric=metric,
        insights=found,
        command=command,
        alpha=alpha,
        effects=effects,
        settling=settling,
        answer=answer(effects),
        sesoi=sesoi,
        probes=probe_curves(groups),
    )


def analyse_fair(
    runs: list[RunRecord],
    ignored: Sequence[str],
    *,
    metric: str,
    test: str = "welch",
    alpha: float = 0.05,
    command: str = COMMAND,
    sesoi: float | None = 0.5,
    with_test_set: bool = True,
) -> Report:
    """A fair study (docs/fair_comparisons.md): the headline at each arm's own best (the ``best`` set), the
    shared setting beside it, the tuning curves and the stopping summary; the stage, the tuned keys and the
    seed are never factors."""
    from experiments.comparison.analysis.answer import answer
    from experiments.comparison.analysis.effects import REFERENCES, effects_frame, factorial_effects
    from experiments.comparison.analysis.fair_changes import changes
    from experiments.comparison.analysis.fair_sets import STUDY_KEYS, split_sets
    from experiments.comparison.analysis.fair_stopping import stopping
    from experiments.comparison.analysis.fair_study import FairStudy, fair_answer, fair_sets_counts
    from experiments.comparison.analysis.fair_tuning import tuning
    from experiments.comparison.sources.study_plan import plans_of

    plans = plans_of(runs)
    plan = plans[0] if plans else None
    sets = split_sets(runs, ignored, plans)
    not_factors = (*ignored, *STUDY_KEYS, *sets.tuned_keys)
    report = analyse_grid(sets.best, None, not_factors, metric=metric, test=test, alpha=alpha,
                          command=command, sesoi=sesoi, with_test_set=with_test_set)
    shared = factorial_effects(
        effects_frame(sets.shared, report.keys, metric, provenance=True), report.keys, metric,
        alpha=alpha, reference=REFERENCES, sesoi=sesoi,
    ) if sets.shared and report.keys else None
    study = FairStudy(
        report.keys, sets.tuned_keys, fair_sets_counts(sets),
        tuning=tuning(sets, plan), stopping=stopping(sets), shared_effects=shared,
        changes=changes(report.effects, shared),
        notes=[p for plan in plans for p in plan.problems],
    )
    if study.tuning:
        study.notes += study.tuning.notes
    if study.stopping:
        study.notes += study.stopping.notes
    if sets.superseded:
        study.notes.append(f"{sets.superseded} job dir(s) moved aside by a resumed study are left out.")
    if sets.outside:
        study.notes.append(f"{len(sets.outside)} run(s) without a study stage are left out of the analysis.")
    report.runs, report.fair = runs, study
    report.answer = fair_answer(study, answer(report.effects))
    return report


def margin(given: float | None, runs: Sequence[RunRecord], metric: str) -> float | None:
    """The SESOI: ``--sesoi`` where given (in the metric's unit), else for a fraction the configured one in
    points (:func:`configured_sesoi`), else none: a raw unit (a loss) has no default margin."""
    from experiments.comparison.analysis.metric_kind import metric_kind

    if given is not None:
        return given
    return configured_sesoi(runs) if metric_kind(metric).fraction else None


def configured_sesoi(runs: Sequence[RunRecord]) -> float:
    """``compare.sesoi`` of the runs' saved configs where they all agree, else the default (0.5 points)."""
    from experiments.comparison.analysis.equivalence import DEFAULT_SESOI
    from experiments.records.run_record import number

    values = {number(r.config_value("compare.sesoi")) for r in runs if r.config}
    values.discard(None)
    return float(values.pop()) if len(values) == 1 else DEFAULT_SESOI  # type: ignore[arg-type]


def analyse_search(
    runs: list[RunRecord], search: Search, *, metric: str, alpha: float, command: str
) -> Report:
    """The trials of a search, one row each, ranked by the study's objective; no test between them."""
    from experiments.comparison.analysis.insights import num_classes
    from experiments.comparison.analysis.search import search_insights, trial_groups

    return Report(
        runs=runs,
        keys=search.keys,
        groups=trial_groups(search, metric),
        metric=metric,
        insights=search_insights(search, metric, num_classes(runs)),
        command=command,
        alpha=alpha,
        search=search,
    )


def write_report(report: Report, out: Path, *, plots: bool = True) -> Report:
    """Draw the plots (unless ``plots`` is false) and write runs.csv, summary.json, report.md, report.html."""
    from experiments.comparison.writers.csv_json import write_csv, write_json
    from experiments.comparison.writers.html_page import write_html
    from experiments.comparison.writers.markdown import write_markdown

    try:
        if plots:
            report.plots = draw_plots(report, out)
        write_csv(report, out / "runs.csv")
        write_json(report, out / "summary.json")
        write_markdown(report, out / "report.md")
        write_html(report, out / "report.html")
        from experiments.records.atomic import write_atomic

        write_atomic(out / MARKER, f"{report.command}\n")  # the next compare into this dir knows its own
    except OSError as error:  # e.g. the disk filled up, or the dir became read-only, after the check
        raise ReportDirError(out, error) from error
    return report


def draw_plots(report: Report, out: Path) -> dict[str, Path]:
    """The PNG plots of the report by name: a search's, or a grid's with its effects."""
    if report.search:
        from experiments.comparison.writers.search_plots import search_plots

        return search_plots(report.search, report.groups, report.metric, out)
    from experiments.comparison.writers.group_plots import all_plots

    made = all_plots(report.groups, report.metric, out)
    if report.effects:
        from experiments.comparison.writers.effects_plots import effects_plots

        made.update(effects_plots(report.effects, out))
    from experiments.comparison.writers.probe_plots import probe_plots

    made.update(probe_plots(report.probes, report.groups, out))
    if report.fair and report.fair.tuning:
        from experiments.comparison.writers.fair_plots import PLOT_NAME, tuning_plot

        drawn = tuning_plot(report.fair.tuning, out)
        if drawn is not None:
            made[PLOT_NAME] = drawn
    return made


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
    """Where a report goes without ``-o``: ``<first PATH>/compare`` where the first PATH is a local dir (one
    sweep dir or several run dirs: the report lives with what it reads, never in whatever dir the command
    happened to be typed in); ``./compare`` only where no PATH is a local dir (W&B's ``entity/project``)."""
    local = next((Path(p) for p in paths if Path(p).is_dir()), None)
    if local is not None:
        return local / "compare"
    return Path("compare")
