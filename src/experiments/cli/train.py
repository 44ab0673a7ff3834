"""``experiments [overrides]``: one training run, or a sweep with ``-m``. Torch loads only once a job trains.

A single run is composed and validated once (:func:`experiments.config.compose_in`) and handed to Hydra's
job runner; a ``-m`` sweep goes to Hydra's sweeper after every job of a grid sweep has been composed and
validated up front. Hydra's own flags (``--cfg``, ``--info``, ``-cd`` ...) go through ``hydra.main``.
Bad input exits 2 with one line, before a run dir exists. :mod:`experiments.api` calls the same functions.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from experiments.cli.preflight import check_data_files, check_weights_fit, with_data_checked
from experiments.config import ConfigError, config_dir, validate
from experiments.config.compose import (
    CONFIG_NAME,
    check_override_syntax,
    compose_in,
    hydra_session,
    open_mapping_overrides,
)
from experiments.records.run_record import RunRecord
from experiments.training.task import train

MULTIRUN_FLAGS = ("-m", "--multirun")


def refuse_bad_weights(cfg: DictConfig) -> None:
    """A weights file that is missing or not a plain tensor file is refused here (this imports torch)."""
    if cfg.model.net.get("weights") is None:
        return
    from experiments.training.checkpoints import refuse_bad_weights as refuse

    refuse(cfg)


def run_once(argv: list[str]) -> Path | int:
    """A single run: compose and validate once, resolve ``resume=``, run the job through Hydra; its run dir.

    Bad input raises :class:`ConfigError` (or ``DataSourceError``) before any run dir exists. A config
    that asks for a sweep itself (``hydra.mode: MULTIRUN``, as ``hparams_search=optuna`` does) is one.
    """
    from hydra.types import RunMode

    with hydra_session() as session:
        cfg = compose_in(session, argv, hydra_config=True, with_log_configuration=True)
        if cfg.hydra.mode == RunMode.MULTIRUN:
            return run_sweep(argv)
        validate(cfg)
        notes: list[str] = []
        again = _continuation(cfg, argv, notes)
        if again is not None:
            from experiments.training.resume import refuse_other_run

            cfg = compose_in(session, again, hydra_config=True, with_log_configuration=True)
            validate(cfg)
            refuse_other_run(Path(str(cfg.hydra.run.dir)), cfg)
        for note in notes:  # once the continuation is known to fit its run dir
            print(note)
        _refuse_used_run_dir(cfg)
        refuse_bad_weights(cfg)
        check_weights_fit(cfg)
        check_data_files(cfg)
        _fix_run_dir(cfg)
        from experiments.cli.disk import refuse_full_disk_for_run

        refuse_full_disk_for_run(cfg)
        from experiments.records.lock import claimed_run_dir
        from experiments.records.redaction import redact

        with claimed_run_dir(
            Path(cfg.hydra.run.dir)
        ):  # its lock before Hydra writes there; a full disk: one line
            _refuse_used_run_dir(cfg)  # again, holding the lock: a run started in this dir at the same moment
            print(redact(first_line(cfg, argv)), flush=True)
            from experiments.cli.time_lines import print_run_estimate

            print_run_estimate(cfg)  # before the data and torch load: how long to expect
            _run_job_in(session, cfg)
    return Path(cfg.hydra.run.dir)


def run_sweep(argv: list[str]) -> Path | int:
    """A ``-m`` sweep in this process: every grid job checked up front, then Hydra's sweeper; its dir.

    With ``sweep.dry_run=true`` it lists the jobs instead and returns the exit code (0, or 2 for bad jobs).
    """
    from experiments.sweeps.grid import check_sweep
    from experiments.sweeps.sweep_resume import resume_argument
    from experiments.sweeps.sweep_task import sweep_task

    overrides = [a for a in argv if a not in MULTIRUN_FLAGS]
    check = with_data_checked(check_sweep(overrides))  # a job whose data is missing is invalid, dry run too
    if check.dry_run:
        from experiments.cli.dry_run import print_dry_run

        return print_dry_run(check)
    reuse = check.identical if check.reuse_identical else {}
    if check.identical:
        same = ", ".join(f"{job} = {earlier}" for job, earlier in check.identical.items())
        what = (
            "each reuses the earlier job's record (sweep.reuse_identical=false runs them)"
            if reuse
            else "each still runs"
        )
        print(f"Note: jobs {same} are the same experiment (sweep.dry_run=true says why); {what}.")
    for cfg in {str(c.model.net.get("weights")): c for c in check.configs if c is not None}.values():
        refuse_bad_weights(cfg)
    if check.problems:
        _refuse_one_problem(check.problems, len(check.jobs))
        lines = "\n  ".join(check.problems)
        raise ConfigError("sweep", f"no job was started; these jobs have bad values:\n  {lines}")
    configs = [c for c in check.configs if c is not None]
    for cfg in {str(c.model.net.get("weights")): c for c in configs}.values():
        check_weights_fit(cfg)
    for cfg in {str(OmegaConf.to_container(c.data, resolve=False)): c for c in configs}.values():
        check_data_files(cfg)
    from experiments.cli.disk import later_jobs, refuse_full_disk

    running = [c for n, c in enumerate(check.configs) if c is not None and n not in set(reuse)]
    later = later_jobs(check)
    what = f"this sweep of {len(running) + later} jobs"
    refuse_full_disk(running, check.launcher, check.output_dir, what, later)

    from experiments.cli.time_lines import print_sweep_estimate

    print_sweep_estimate(check)  # the sweep's total, before its first job
    overrides = resume_argument(overrides)
    make_output_root()  # once every job is checked: a refused sweep writes nothing
    with hydra_session() as session:
        cfg = compose_in(session, overrides, hydra_config=True, multirun=True)  # the sweep dir, resolved once
        sweep_dir = Path(str(cfg.hydra.sweep.dir))
        if not any(o.startswith("hydra.sweep.dir=") for o in overrides):
            overrides = [*overrides, f"hydra.sweep.dir={sweep_dir}"]
        overrides = [*overrides, "hydra.mode=MULTIRUN"]  # as hydra.main adds for --multirun
        chosen = any(o.lstrip("+~").startswith("hydra/sweeper=") for o in overrides)
        if check.grid and not chosen and str(cfg.hydra.sweeper._target_).endswith(".BasicSweeper"):
            # Every job was composed above: the same grid, without Hydra composing each job again.
            overrides += ["hydra/sweeper=grid", "hydra.sweeper.jobs_checked=true"]
        session.multirun(CONFIG_NAME, partial(sweep_task, checked=check.grid, identical=reuse), overrides)
    return sweep_dir


def _refuse_one_problem(problems: list[str], jobs: int) -> None:
    """Every job refused for the same reason (a fixed value such as ``seed=``): that reason as one line."""
    reasons = {p.split("): ", 1)[-1] for p in problems}
    if len(problems) == jobs and len(reasons) == 1:
        key, _, problem = reasons.pop().partition(": ")
        raise ConfigError(key, problem)


def make_output_root() -> None:
    """``outputs/``: the output root; the Optuna study's sqlite file lives there too."""
    Path("outputs").mkdir(exist_ok=True)


def first_line(cfg: DictConfig, argv: list[str]) -> str:
    """What is being run and where its outputs go, printed before torch is imported."""
    what = " ".join(a for a in argv if not a.startswith("hydra.")) or "the defaults"
    return f"experiments: {cfg.model.name} on {cfg.data.name} ({what}) -> {cfg.hydra.run.dir}"


def _fix_run_dir(cfg: DictConfig) -> None:
    """Resolve ``hydra.run.dir`` (``${now:...}``) once, so the dir printed first is the dir used."""
    from omegaconf import open_dict

    with open_dict(cfg.hydra):
        cfg.hydra.run.dir = str(cfg.hydra.run.dir)


def _run_job_in(session: Any, cfg: DictConfig) -> None:
    """What ``hydra.main`` does for a run, on the config composed above (Hydra's ``Hydra.run``)."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.utils import JobStatus, run_job
    from hydra.types import HydraContext, RunMode

    cfg.hydra.mode = RunMode.RUN
    callbacks = Callbacks(cfg)
    callbacks.on_run_start(config=cfg, config_name=CONFIG_NAME)
    ret = run_job(
        hydra_context=HydraContext(config_loader=session.config_loader, callbacks=callbacks),
        task_function=partial(train, checked=True, raise_errors=True),
        config=cfg,
        job_dir_key="hydra.run.dir",
        job_subdir_key=None,
    )
    callbacks.on_run_end(config=cfg, config_name=CONFIG_NAME, job_return=ret)
    if ret.status == JobStatus.FAILED:  # the job's own exception, without Hydra's "Error executing job" line
        raise ret._return_value


def _continuation(cfg: DictConfig, argv: list[str], notes: list[str]) -> list[str] | None:
    """For ``resume=``: the command line that continues the earlier run in its own dir (None: no resume)."""
    resume = cfg.get("resume")
    if not resume:
        return None
    from experiments.training.resume import resolve_resume

    skipped: list[str] = []  # newer checkpoints that do not load
    found = resolve_resume(str(resume), cfg, skipped=skipped)
    if found is None:
        print("resume=auto: no unfinished run with this config; starting a new one")
        return [*argv, "resume=null"]
    previous, checkpoint = found
    passed = f" (the newest that loads: {'; '.join(skipped)})" if skipped else ""
    notes.append(f"Resuming {previous} from {checkpoint.name}{passed}")
    return [*_saved_overrides(previous), *argv, f"hydra.run.dir={previous}", f"resume={checkpoint}"]


def _refuse_used_run_dir(cfg: DictConfig) -> None:
    if cfg.get("resume"):
        return
    run_dir = Path(str(cfg.hydra.run.dir))
    if RunRecord.exists(run_dir):
        raise ConfigError(
            "hydra.run.dir",
            f"{run_dir} already holds a run (results.json); choose a new dir, or continue it with resume={run_dir}",
        )


def _saved_overrides(run_dir: Path) -> list[str]:
    """The overrides a run was started with, so ``resume=<run dir>`` continues it as it was."""
    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        return []
    return [str(o) for o in OmegaConf.load(saved) if not str(o).startswith(("resume=", "hydra."))]


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name=CONFIG_NAME)
def hydra_main(cfg: DictConfig) -> float | None:
    """Sweeps (``-m``) and Hydra's own flags (``--cfg``, ``--info``, ``--hydra-help``, ...)."""
    from experiments.data.errors import DataSourceError
    from experiments.sweeps.sweep_task import sweep_task

    try:
        return sweep_task(cfg)  # a single run goes straight to the job's task function
    except (ConfigError, DataSourceError) as error:  # a single run's bad input (a sweep records it)
        fail(error)
    return None


def fail(error: Exception) -> None:
    """One line and exit code 2 for bad input (the traceback with ``HYDRA_FULL_ERROR=1``)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    kind = "Config error" if isinstance(error, ConfigError) else "Error"
    print(f"{kind}: {error}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str]) -> int:
    """The ``experiments`` train command; returns the exit code."""
    from experiments.data.errors import DataSourceError
    from experiments.sweeps.progress import SweepCallback

    argv = open_mapping_overrides(argv)  # Hydra's own runs and sweep jobs see the same overrides
    if ("--help" in argv or "-h" in argv) and "--hydra-help" not in argv:
        from experiments.cli.help import print_help

        try:
            print_help(argv)
        except ConfigError as error:
            fail(error)
        return 0
    flags = [a for a in argv if a.startswith("-") and a not in MULTIRUN_FLAGS]
    if flags:  # Hydra's own flags: --cfg, --info, --hydra-help, -cd, ...
        make_output_root()
        sys.argv = [sys.argv[0], *argv]
        hydra_main()
        return 0
    try:
        check_override_syntax(argv)
        outcome = run_sweep(argv) if any(a in MULTIRUN_FLAGS for a in argv) else run_once(argv)
        if isinstance(outcome, int):
            return outcome  # a dry run's exit code
        return 1 if SweepCallback.failed_jobs else 0
    except (ConfigError, DataSourceError) as error:
        fail(error)
    except BaseException as error:
        if "experiments.training.signals" in sys.modules:  # a job ran and may have been stopped by a signal
            from experiments.training.signals import Interrupted

            if isinstance(error, Interrupted):
                sys.exit(error.exit_code)  # its message and the resume command are printed already
        raise
    return 0
