"""``hydra/launcher=slurm`` and ``hydra/launcher=local``: hydra-submitit-launcher, with each job's end collected
on its own.

submitit's launcher asks every job for its result in turn, and a job that left none (``scancel``, a time
limit, the OOM killer, a node failure: the job's process never wrote submitit's result file) raises
``UncompletedJobError`` there, which ends the whole sweep without a summary. Here such a job is that job's
failure: its ``results.json`` says ``failed`` with the scheduler's state (``scheduler_state``: CANCELLED,
TIMEOUT, OUT_OF_MEMORY, ...), the other jobs go on, the summary is written, and ``sweep.resume=true`` runs
it again. A job that SLURM will never start (it stays pending for a reason no wait can clear, such as
``PartitionConfig``) is cancelled and failed with that reason instead of waiting for ever. sbatch's own
refusal becomes one line (exit 2) and leaves no sweep dir behind. The request itself is checked against the
cluster before any job (``experiments.sweeps.slurm_request``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher import submitit_launcher
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import OmegaConf

from hydra_plugins.experiments_launcher.lost_jobs import failed_return, record_failed, run_dir_of

log = logging.getLogger(__name__)

#: squeue reasons of a pending job that no wait clears: the request does not fit the partition or account.
HOPELESS_REASONS = frozenset(
    {
        "PartitionConfig",
        "BadConstraints",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "InvalidAccount",
        "InvalidQOS",
        "QOSMaxCpuPerJobLimit",
        "QOSMaxMemoryPerJob",
        "QOSMaxGRESPerJob",
        "AssocMaxCpuPerJobLimit",
    }
)
#: Seconds between looks at the jobs' states while the sweep waits.
POLL_S = 1.0
#: Seconds between looks at why pending jobs wait (one squeue call each).
PENDING_LOOK_S = 10.0


class _Collecting(submitit_launcher.BaseSubmititLauncher):
    """submitit's ``launch``, with the jobs' ends collected one by one (see the module's docstring)."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from submitit.core.utils import FailedJobError

        assert self.config is not None and job_overrides
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        had_jobs = sweep_dir.is_dir() and any(p.name.isdigit() for p in sweep_dir.iterdir())
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        arguments = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            arguments.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # submitit prints sbatch's error; it is raised below
                jobs = executor.map_array(self, *zip(*arguments))
        except FailedJobError as error:
            if not had_jobs:  # nothing ran: a refused command leaves nothing behind
                shutil.rmtree(sweep_dir, ignore_errors=True)
            from experiments.config import ConfigError

            raise ConfigError("hydra.launcher", f"sbatch refused the sweep: {_last_line(str(error))}") from None
        run_dirs = [run_dir_of(self, o, i) for i, o in enumerate(job_overrides, start=initial_job_idx)]
        return self._collect(jobs, job_overrides, run_dirs)

    def _executor(self) -> Any:
        """submitit's executor with this launcher's keys (as hydra-submitit-launcher passes them)."""
        import submitit

        params = dict(self.params)
        init = {"folder": params.pop("submitit_folder")}
        if "max_num_timeout" in params:
            init[f"{self._EXECUTOR}_max_num_timeout"] = params.pop("max_num_timeout")
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init)
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"{self._EXECUTOR}_{k}": v for k, v in params.items()})
        return executor

    def _collect(self, jobs: list[Any], overrides: Sequence[Sequence[str]], run_dirs: list[Path]) -> list[JobReturn]:
        """Every job's return once all are done; a job that left no result is recorded failed."""
        returns: dict[int, JobReturn] = {}
        looked = 0.0
        while len(returns) < len(jobs):
            look = self._EXECUTOR == "slurm" and time.monotonic() - looked >= PENDING_LOOK_S
            looked = time.monotonic() if look else looked
            for i, job in enumerate(jobs):
                if i in returns:
                    continue
                if job.done():
                    returns[i] = self._outcome(job, overrides[i], run_dirs[i])
                elif look and (reason := _hopeless(job)) is not None:
                    _cancel(job)
                    why = f"SLURM job {job.job_id} would never start (pending, Reason={reason}): cancelled"
                    record_failed(run_dirs[i], why, scheduler_state=f"PENDING ({reason})")
                    print(f"Job {i} failed: {why}", flush=True)
                    returns[i] = failed_return(self, overrides[i], run_dirs[i])
            if len(returns) < len(jobs):
                time.sleep(POLL_S)
        return [returns[i] for i in range(len(jobs))]

    def _outcome(self, job: Any, overrides: Sequence[str], run_dir: Path) -> JobReturn:
        try:
            return job.results()[0]
        except Exception as error:  # UncompletedJobError, FailedJobError: the job ended without its result
            state = str(job.state)
            why = (
                f"SLURM job {job.job_id} ended {state} before it returned "
                f"({type(error).__name__}); sweep.resume=true runs it again"
                if self._EXECUTOR == "slurm"
                else f"the job's process ended before it returned ({type(error).__name__}: {_last_line(str(error))})"
            )
            record_failed(run_dir, why, scheduler_state=state.split()[0] if self._EXECUTOR == "slurm" else None)
            return failed_return(self, overrides, run_dir)


def _hopeless(job: Any) -> str | None:
    """The squeue reason of a pending SLURM job that will never start, else None."""
    if job.state not in ("PENDING", "UNKNOWN"):
        return None
    try:
        shown = subprocess.run(
            ["squeue", "-h", "-j", str(job.job_id), "-o", "%T %r"], capture_output=True, text=True, timeout=10
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if len(shown) >= 2 and shown[0] == "PENDING" and shown[1] in HOPELESS_REASONS:
        return shown[1]
    return None


def _cancel(job: Any) -> None:
    with contextlib.suppress(Exception):  # already gone
        job.cancel(check=False)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text.strip()


class SlurmLauncher(_Collecting, submitit_launcher.SlurmLauncher):
    """Each job one SLURM job (an array for a sweep); a job SLURM ends fails alone."""


class LocalLauncher(_Collecting, submitit_launcher.LocalLauncher):
    """submitit's local executor (SLURM's code path as subprocesses); a killed job fails alone."""
