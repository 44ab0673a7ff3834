"""``hydra/launcher=parallel``: Hydra's joblib launcher with one key of ours, ``jobs_per_device``, that a
killed worker does not bring down.

Hydra takes launchers only from the ``hydra_plugins`` namespace package, hence this package beside
``experiments``. joblib's launcher passes every key to ``joblib.Parallel``, so ours is taken off here; each
job reads it back from ``hydra.launcher`` (``experiments.sweeps.slots.jobs_per_device``), and the sweep's
up-front check (``experiments.sweeps.grid.check_launcher``) refuses a bad value before any job starts.

A worker process killed by a signal (the OOM killer's SIGKILL) breaks loky's whole executor: joblib
raises ``TerminatedWorkerError`` and the jobs running beside it are killed too. Here the jobs go to loky's
executor one future each; when it breaks, the job whose worker died first is recorded ``failed`` with the
signal (its ``results.json``), and the jobs that were lost with it (killed beside it, or not started) run
again in a fresh executor. The sweep goes on and writes its summary.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Sequence
from concurrent.futures import wait
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

from hydra_plugins.experiments_launcher.lost_jobs import failed_return, record_failed, run_dir_of

log = logging.getLogger(__name__)

#: Times a job may be lost with a worker that another job's death took down before it counts as failed.
LOST_TRIES = 3
#: pid -> exit code of loky workers that had died on their own when loky killed the rest (see _watch_deaths).
_died: dict[int, int] = {}


class ParallelLauncher(JoblibLauncher):
    """Jobs side by side in processes; up to ``jobs_per_device`` of them share one GPU."""

    def __init__(self, jobs_per_device: int = 1, **joblib: Any) -> None:
        super().__init__(**joblib)
        self.jobs_per_device = jobs_per_device

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        return launch_surviving(self, job_overrides, initial_job_idx)


def launch_surviving(
    launcher: JoblibLauncher, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """joblib's ``launch`` (``hydra_joblib_launcher._core``), job by job: a dead worker fails its own job only."""
    from joblib.externals.loky import get_reusable_executor
    from joblib.externals.loky.process_executor import BrokenProcessPool

    setup_globals()
    assert launcher.config is not None and launcher.task_function is not None
    assert launcher.hydra_context is not None
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    joblib_cfg = dict(launcher.joblib)
    process_joblib_cfg(joblib_cfg)
    workers = _workers(joblib_cfg.get("n_jobs"))
    log.info(f"Launching {len(job_overrides)} jobs, {workers} at a time, sweep output dir : {sweep_dir}")
    for idx, overrides in enumerate(job_overrides):
        log.info("\t#{} : {}".format(initial_job_idx + idx, " ".join(filter_overrides(overrides))))
    _watch_deaths()
    singleton_state = Singleton.get_state()
    returns: dict[int, JobReturn] = {}
    lost: dict[int, int] = {}
    pending = list(range(len(job_overrides)))
    while pending:
        _died.clear()
        executor = get_reusable_executor(max_workers=workers)  # a fresh one where the last one broke
        futures = {
            executor.submit(
                execute_job,
                initial_job_idx + i,
                job_overrides[i],
                launcher.hydra_context,
                launcher.config,
                launcher.task_function,
                singleton_state,
            ): i
            for i in pending
        }
        wait(futures)
        pending = []
        for future, i in futures.items():
            try:
                returns[i] = future.result()
                continue
            except BrokenProcessPool:
                pass
            run_dir = run_dir_of(launcher, job_overrides[i], initial_job_idx + i)
            code = _died.get(_holder(run_dir) or -1)
            lost[i] = lost.get(i, 0) + 1
            if code is None and lost[i] < LOST_TRIES:
                print(
                    f"Job {initial_job_idx + i} was lost with a worker that another job's death took down; "
                    "it runs again",
                    flush=True,
                )
                pending.append(i)
                continue
            why = killed_by(code) if code is not None else f"its worker process died {lost[i]} times"
            record_failed(run_dir, why)
            print(
                f"[job {initial_job_idx + i}] failed: {why}  {','.join(filter_overrides(job_overrides[i]))}",
                flush=True,
            )
            returns[i] = failed_return(launcher, job_overrides[i], run_dir)
    return [returns[i] for i in range(len(job_overrides))]


def killed_by(code: int) -> str:
    """``killed by signal 9 (SIGKILL: possibly the OOM killer ...)`` for a worker's exit code."""
    if code >= 0:
        return f"its worker process exited with code {code}"
    number = -code
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    hint = (
        "possibly the OOM killer: check `dmesg` or `journalctl -k` for 'Out of memory', "
        "lower data.batch_size or hydra.launcher.n_jobs"
        if number == signal.SIGKILL
        else "sent by a person or the system"
    )
    return f"killed by signal {number} ({name}; {hint})"


def _workers(n_jobs: Any) -> int:
    import os

    n = int(n_jobs or 1)
    return max(1, (os.cpu_count() or 1) + 1 + n if n < 0 else n)


def _watch_deaths() -> None:
    """Note which loky workers had already died when loky kills the rest of a broken executor.

    loky's manager thread kills every worker left (``kill_process_tree``) as soon as one dies; a worker
    whose exit code is known at that moment died on its own, the others were killed beside it.
    """
    from joblib.externals.loky import process_executor

    kill = process_executor.kill_process_tree
    if getattr(kill, "_notes_deaths", False):
        return

    def noting(process: Any, *args: Any, **kwargs: Any) -> Any:
        code = process.exitcode
        if code is not None:
            _died[process.pid] = code
        return kill(process, *args, **kwargs)

    noting._notes_deaths = True  # type: ignore[attr-defined]
    process_executor.kill_process_tree = noting


def _holder(run_dir: Path) -> int | None:
    """The PID that last took the job's lock (``records.lock``): the worker that ran it."""
    from experiments.records.lock import LOCK_FILE

    try:
        return int((run_dir / LOCK_FILE).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None
