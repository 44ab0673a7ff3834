"""Progress lines of a sweep and its summary at the end: :class:`SweepCallback`, a Hydra callback.

Set in ``conf/config.yaml`` (``hydra.callbacks``); it runs in the process that launches the jobs.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from experiments.records.run_record import FINAL_STATUSES, RunRecord
from experiments.sweeps.grid import count_jobs
from experiments.sweeps.table import ELSEWHERE, SUMMARY_MD, clock, job_rows, shown_status, write_summary
from experiments.sweeps.time_estimate import parallelism, remaining_text

START_VARIABLE = "EXPERIMENTS_SWEEP_START"
TOTAL_VARIABLE = "EXPERIMENTS_SWEEP_TOTAL"
PARALLEL_VARIABLE = "EXPERIMENTS_SWEEP_PARALLEL"


def done_count(sweep_dir: Path, job_num: int, since: float | None) -> int:
    """Jobs of the sweep that are done: ended in this sweep (written since it began) or skipped ones passed.

    A job that an earlier attempt of the sweep finished counts once the launcher reaches it (jobs are
    dispatched in order), not before.
    """
    done = 0
    for path in RunRecord.files_of_sweep(sweep_dir):
        if _status(path) not in FINAL_STATUSES:
            continue
        if int(path.parent.name) <= job_num or since is None or path.stat().st_mtime >= since:
            done += 1
    return done


def _status(record_file: Path) -> str:
    return RunRecord.read(record_file.parent).status


def _outcome(record_file: Path) -> str:
    """``ok     test/acc 97.21 %`` (or ``reused``): a finished job's status and main metric."""
    record = RunRecord.read(record_file.parent)
    accuracy = record.metric("test/acc")
    if not record.ok or accuracy is None:
        return f"{shown_status(record, record_file.parent):<6}"
    how = " (reused)" if record.identical_to else ""
    return f"{record.status:<6} test/acc {100 * accuracy:5.2f} %{how} "


#: A failed job's error that a retry cannot fix: bad config or missing data (the record's ``error`` prefix).
NOT_RETRYABLE = ("ConfigError", "DataSourceError")


def failure_advice(failed: list[dict[str, Any]]) -> list[str]:
    """What to do about the failed jobs: a retry (``sweep.resume=true``) only for those a retry can fix."""
    fixed_first = [r for r in failed if str(r.get("error") or "").startswith(NOT_RETRYABLE)]
    advice = []
    if fixed_first:
        advice.append(
            f"{len(fixed_first)} job(s) failed on their config or data (a retry fails the same way): fix what "
            "their error names, then re-run with sweep.resume=true."
        )
    if len(failed) > len(fixed_first):
        advice.append(
            f"{len(failed) - len(fixed_first)} job(s) failed; re-run the same command with sweep.resume=true "
            "to retry them and skip the finished ones."
        )
    return advice


class SweepCallback(Callback):
    """Prints ``[k/N]`` lines as jobs start and end; at the end saves and prints the sweep summary.

    Where a launcher runs the jobs in processes whose output goes to files (submitit), a thread of the
    launching process prints the lines instead, from the jobs' ``results.json``. It also makes Hydra's
    ``.hydra`` files of every job masked and atomic (:mod:`experiments.records.hydra_files`).
    """

    failed_jobs = 0

    def __init__(self) -> None:
        from experiments.records.hydra_files import install

        install()
        self._watcher: ResultsWatcher | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_watcher": None}  # a thread does not travel to a job's process

    def __setstate__(self, state: dict[str, Any]) -> None:  # unpickled in a launcher's worker process
        from experiments.records.hydra_files import install

        self.__dict__.update(state)
        install()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepCallback.failed_jobs = 0
        os.environ[START_VARIABLE] = str(time.time())
        total = count_jobs(config)
        os.environ[TOTAL_VARIABLE] = str(total or "?")
        os.environ[PARALLEL_VARIABLE] = str(parallelism(config))
        print(f"Sweep of {total} jobs into {config.hydra.sweep.dir}", flush=True)
        if "submitit" in str(OmegaConf.select(config, "hydra.launcher._target_", default="")):
            resume = str(OmegaConf.select(config, "sweep.resume", default=False)).lower() not in (
                "false",
                "none",
            )
            self._watcher = ResultsWatcher(Path(config.hydra.sweep.dir), str(total or "?"), skipped_ok=resume)
            self._watcher.start()

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode is None or str(config.hydra.mode) != "RunMode.MULTIRUN":
            return
        print(
            f"[{config.hydra.job.num + 1}/{os.environ.get(TOTAL_VARIABLE, '?')}] start  "
            f"{_overrides(config)}  (sweep time {self._elapsed()}{sweep_left(config.hydra.sweep.dir)})",
            flush=True,
        )

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if str(config.hydra.mode) != "RunMode.MULTIRUN":
            return
        from experiments.records.lock import unlock_run_dir

        unlock_run_dir(config.hydra.runtime.output_dir)  # taken for the job (records.hydra_files, cli.train)
        outcome = _outcome(RunRecord.file(config.hydra.runtime.output_dir))
        start = os.environ.get(START_VARIABLE)
        done = done_count(Path(config.hydra.sweep.dir), config.hydra.job.num, float(start) if start else None)
        print(
            f"[{done}/{os.environ.get(TOTAL_VARIABLE, '?')} done] {outcome} "
            f"{_overrides(config)}  (sweep time {self._elapsed()}{sweep_left(config.hydra.sweep.dir)})",
            flush=True,
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if getattr(self, "_watcher", None) is not None:
            self._watcher.finish()
            self._watcher = None
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = job_rows(sweep_dir)
        table = write_summary(sweep_dir, rows, self._seconds())
        failed = [r for r in rows if r["status"] not in ("ok", "skipped", ELSEWHERE)]
        elsewhere = [r for r in rows if r["status"] == ELSEWHERE]
        SweepCallback.failed_jobs = len(failed)
        answer = sweep_answer(sweep_dir)
        print(
            f"\nSweep finished in {self._elapsed()}: {len(rows) - len(failed) - len(elsewhere)} of {len(rows)} jobs "
            "ok." + (f"\nThe answer: {answer}\n" if answer else "") + f"\n{table}"
        )
        print(f"Summary: {sweep_dir / SUMMARY_MD}\nCompare the jobs: experiments compare {sweep_dir}")
        if (sweep_dir / "tensorboard").is_dir():
            print(
                f"TensorBoard (HParams tab: one row per job): tensorboard --logdir {sweep_dir / 'tensorboard'}"
            )
        if list(sweep_dir.glob("*/wandb/offline-run-*")):
            print(
                f"Upload the offline W&B runs of this sweep with: wandb sync {sweep_dir}/*/wandb/offline-run-*"
            )
        if elsewhere:
            print(
                f"{len(elsewhere)} job(s) {ELSEWHERE} (their run dir is held by another process): "
                "resume this sweep with sweep.resume=true once it has ended."
            )
        for line in failure_advice(failed):
            print(line)

    @staticmethod
    def _seconds() -> float | None:
        """Seconds since the sweep started, where it recorded its start."""
        start = os.environ.get(START_VARIABLE)
        return time.time() - float(start) if start else None

    @staticmethod
    def _elapsed() -> str:
        seconds = SweepCallback._seconds()
        return "?" if seconds is None else clock(seconds)


def sweep_answer(sweep_dir: Path) -> str:
    """The answer first, as ``experiments compare`` gives it, on test accuracy: of a fair study
    (``fair_study.json`` in the sweep dir), or of a grid sweep with at least two settings and two finished
    seeds of one; "" otherwise. Never raises: an error in the analysis is one line, and the sweep goes on
    (no torch is imported)."""
    fair = (sweep_dir / "fair_study.json").is_file()
    try:
        from experiments.comparison.analysis.grouping import IGNORED_KEYS
        from experiments.comparison.pipeline import analyse_fair, analyse_grid, configured_sesoi
        from experiments.comparison.sources.collect import collect

        runs = collect([sweep_dir])
        if fair:
            report = analyse_fair(runs, IGNORED_KEYS, metric="test/acc", sesoi=configured_sesoi(runs),
                                  with_test_set=False)
            return " ".join(report.answer).replace("`", "") or "no finished job to analyse yet."
        seeds = sorted(r.seed for r in runs if r.ok and r.seed is not None)
        if len(runs) < 3 or len(set(seeds)) == len(seeds):
            return ""  # one seed per setting: nothing to test
        report = analyse_grid(runs, None, IGNORED_KEYS, metric="test/acc", test="welch", alpha=0.05,
                              command=f"experiments compare {sweep_dir}", sesoi=configured_sesoi(runs),
                              with_test_set=False)
        return " ".join(report.answer).replace("`", "") if report.keys else ""
    except Exception as error:
        return f"not computed ({type(error).__name__}: {error}); experiments compare {sweep_dir} has the report."


def sweep_left(sweep_dir: str | Path) -> str:
    """``, about 3 min left``: the mean wall time of the finished jobs x the jobs left / the parallelism."""
    start, total = os.environ.get(START_VARIABLE), os.environ.get(TOTAL_VARIABLE, "?")
    workers = int(os.environ.get(PARALLEL_VARIABLE) or 1)
    count = int(total) if total.isdigit() else None
    return remaining_text(Path(sweep_dir), float(start) if start else None, count, workers)


def _overrides(config: DictConfig) -> str:
    from experiments.records.redaction import redact

    return str(redact(",".join(str(o) for o in config.hydra.overrides.task)))


class ResultsWatcher(threading.Thread):
    """The ``[k/N]`` lines of jobs that run elsewhere, from changes of their ``results.json`` (polled)."""

    def __init__(self, sweep_dir: Path, total: str, skipped_ok: bool, interval: float = 0.5) -> None:
        super().__init__(name="sweep-progress", daemon=True)
        self.sweep_dir, self.total, self.interval = sweep_dir, total, interval
        self._stop_event = threading.Event()
        self._seen = {path: self._stamp(path) for path in self._results()}
        self._reported: dict[Path, str] = {}
        self._done = 0
        if skipped_ok:  # finished before: sweep.resume skips them
            for path in sorted(self._seen, key=lambda p: int(p.parent.name)):
                if self._seen[path][1] == "ok":
                    self._reported[path] = "done"
                    self._line(path, "ok", done=True, note=" (finished before, skipped)")

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.poll()

    def finish(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self.poll()

    def poll(self) -> None:
        for path in self._results():
            stamp = self._stamp(path)
            before = self._seen.get(path)
            if stamp == before:
                continue
            self._seen[path] = stamp
            event = "start" if stamp[1] == "running" else "done" if stamp[1] in FINAL_STATUSES else None
            if event is not None and self._reported.get(path) != event:  # a job rewrites its record often
                self._reported[path] = event
                self._line(path, "start" if event == "start" else stamp[1], done=event == "done")

    def _line(self, path: Path, status: str, done: bool, note: str = "") -> None:
        from experiments.records.redaction import redact

        record = RunRecord.read(path.parent)
        overrides = ",".join(record.overrides) if record.status != "unreadable" else path.parent.name
        if done:
            self._done += 1
            head = f"[{self._done}/{self.total} done] {_outcome(path)}"
        else:
            head = f"[{int(path.parent.name) + 1}/{self.total}] start "
        left = sweep_left(self.sweep_dir)
        print(f"{head} {redact(overrides)}{note}  (sweep time {SweepCallback._elapsed()}{left})", flush=True)

    def _results(self) -> list[Path]:
        return RunRecord.files_of_sweep(self.sweep_dir)

    @staticmethod
    def _stamp(path: Path) -> tuple[int, str]:
        try:
            return path.stat().st_mtime_ns, _status(path)
        except OSError:
            return 0, "missing"
