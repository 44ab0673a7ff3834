"""A grid sweep's jobs, expanded as Hydra's basic sweeper does, and checked before any job starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError, compose
from experiments.sweeps.fair_plan import FairSettings, planned_total, tuning_jobs
from experiments.sweeps.fair_settings import fair_settings, is_fair
from experiments.sweeps.identical import identical_jobs
from experiments.sweeps.slurm_request import check_slurm_request
from experiments.sweeps.time_estimate import parallelism


def check_ray_installed() -> None:
    """``hydra/launcher=ray`` needs the extra ``ray`` (ray and hydra-ray-launcher), which ``dev`` leaves out."""
    from importlib.util import find_spec

    missing = [name for name in ("ray", "hydra_plugins.hydra_ray_launcher") if find_spec(name) is None]
    if missing:
        raise ConfigError(
            "hydra/launcher",
            f"ray needs {missing[0]}, which is not installed here; install it in a venv of its own: "
            'pip install -e ".[ray]" (README, Ray)',
        )


def grid_jobs(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides in a grid sweep (as Hydra's basic sweeper expands them); None for a search."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not is_grid(config):
        return None
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    # As the sweeper: the config's params first, the command line after them, so that a key given on
    # the command line (``activation=relu`` with a preset sweeping activation) replaces the preset's.
    overrides = [f"{key}={value}" for key, value in params.items()]
    overrides += list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None) for job in batch]


def is_grid(config: DictConfig) -> bool:
    """Whether a grid sweeper (ours or Hydra's basic one) runs the sweep; a search (Optuna) picks values itself."""
    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default="BasicSweeper"))
    return target.endswith(("BasicSweeper", "GridSweeper"))


def count_jobs(config: DictConfig) -> int | None:
    """Jobs in a grid sweep, a fair study's tuning and evaluation stages, or ``n_trials`` of a search sweeper."""
    sweeper = OmegaConf.to_container(OmegaConf.select(config, "hydra.sweeper", default={}) or {})
    if is_fair(sweeper):
        task = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
        fair = fair_settings(sweeper, task)  # at most: the extra seeds' rounds may stop early
        return planned_total(fair) + len(fair.arms) * fair.extra_per_arm
    trials = OmegaConf.select(config, "hydra.sweeper.n_trials", default=None)
    if trials:
        return int(trials)
    jobs = grid_jobs(config)
    return len(jobs) if jobs is not None else None


@dataclass(frozen=True)
class UpFrontCheck:
    """What :func:`check_sweep` found.

    ``grid`` is False where a search sweeper picks the values; ``jobs`` holds each grid job's overrides
    and ``configs`` its composed config (None where it is invalid, with its line in ``problems``);
    ``identical`` maps a job to the earlier job that is the same experiment (:mod:`.identical`).
    """

    grid: bool
    problems: list[str]
    jobs: list[list[str]] = field(default_factory=list)
    configs: list[DictConfig | None] = field(default_factory=list)
    identical: dict[int, int] = field(default_factory=dict)
    dry_run: bool = False
    reuse_identical: bool = True
    fair: FairSettings | None = None  # hydra/sweeper=fair: ``jobs`` are its tuning stage
    shared_points: dict[int, int | None] = field(default_factory=dict)  # arm -> grid point of its own setting
    parallel: int = 1  # jobs the launcher runs at once (time estimates)
    launcher: DictConfig | None = None  # hydra.launcher: how many jobs run at once (the disk at the peak)
    output_dir: str = "outputs/multirun"  # hydra.sweep.dir, resolved once


def check_sweep(argv: Sequence[str]) -> UpFrontCheck:
    """For ``-m`` command lines: compose and validate every job of a grid sweep before any starts.

    ``problems`` has one line per bad job (empty when all are fine, or when a search sweeper picks
    the values: those are checked in each trial).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if "=" in a and not a.startswith("-")]
    fixed = [o for o in OverridesParser.create().parse_overrides(overrides) if not o.is_sweep_override()]
    first = compose([o.input_line for o in fixed if o.input_line], hydra_config=True, validated=False)
    check_launcher(first.hydra.launcher)
    dry_run = bool(OmegaConf.select(first, "sweep.dry_run", default=False))
    try:
        check_slurm_request(first.hydra.launcher)
    except ConfigError as error:
        if not dry_run:
            raise
        # a dry run lists the jobs wherever it runs (a laptop before the cluster): the refusal is a note
        print(f"Note: the sweep itself would be refused here: {error}")
    sweep = OmegaConf.create(
        {
            "hydra": {
                "sweeper": OmegaConf.to_container(first.hydra.sweeper),
                "overrides": {"task": [o for o in overrides if not o.startswith("hydra.")]},
            }
        }
    )
    problems: list[str] = []
    sweeper = OmegaConf.to_container(first.hydra.sweeper)
    fair = fair_settings(sweeper, sweep.hydra.overrides.task) if is_fair(sweeper) else None
    jobs = [job.overrides for job in tuning_jobs(fair)] if fair else grid_jobs(sweep) or []
    configs: list[DictConfig | None] = []
    for number, job in enumerate(jobs):
        try:
            configs.append(compose(job))
        except ConfigError as error:
            configs.append(None)
            problems.append(f"job {number} ({' '.join(job)}): {error}")
    shared_points = check_evaluation_stage(fair, problems) if fair else {}
    return UpFrontCheck(
        fair=fair,
        shared_points=shared_points,
        grid=is_grid(sweep) or fair is not None,
        problems=problems,
        jobs=jobs,
        configs=configs,
        identical=identical_jobs(configs),
        dry_run=dry_run,
        parallel=parallelism(first),
        reuse_identical=bool(OmegaConf.select(first, "sweep.reuse_identical", default=True)),
        launcher=first.hydra.launcher,
        output_dir=sweep_dir_of(first),
    )


def sweep_dir_of(config: DictConfig) -> str:
    """``hydra.sweep.dir`` resolved (``${now:...}``), or ``outputs/multirun`` where it cannot be yet."""
    try:
        return str(config.hydra.sweep.dir)
    except Exception:  # an interpolation that resolves only inside Hydra's launch
        return "outputs/multirun"


def check_evaluation_stage(fair: FairSettings, problems: list[str]) -> dict[int, int | None]:
    """A fair study's later stages, composed before any job: each arm at the config's own setting, and each
    evaluation seed; returns each arm's grid point that equals its own setting (None: not in the grid)."""
    from experiments.sweeps.fair_plan import evaluation_jobs

    shared_points: dict[int, int | None] = {}
    for job in evaluation_jobs(fair, [0] * len(fair.arms)):
        if job.stage == "best" and job.arm > 0 and (fair.tuning_seeds or job.seed != fair.seeds[0]):
            continue  # every point was composed in the tuning stage (or here, once per arm); each seed once
        if job.stage == "shared" and job.seed != fair.seeds[0]:
            continue
        try:
            cfg = compose(job.overrides)
        except ConfigError as error:
            problems.append(f"{job.stage} job of arm {job.arm} ({' '.join(job.overrides)}): {error}")
            continue
        if job.stage == "shared":
            shared_points[job.arm] = shared_point(fair, cfg)
    return shared_points


def shared_point(fair: FairSettings, cfg: DictConfig) -> int | None:
    """The grid point whose tuned values equal ``cfg``'s own (the shared setting), or None."""
    own = [OmegaConf.select(cfg, key, default=None) for key in fair.tuned_keys]
    for number, point in enumerate(fair.tune):
        values = [o.split("=", 1)[1] for o in point]
        if all(_same(a, b) for a, b in zip(own, values)):
            return number
    return None


def _same(value: object, text: str) -> bool:
    try:
        return abs(float(value) - float(text)) <= 1e-12 * max(1.0, abs(float(text)))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value) == text


#: The keys ``hydra/launcher=parallel`` acts on (its jobs go to loky one by one, not through joblib.Parallel).
PARALLEL_LAUNCHER_KEYS = {"_target_", "n_jobs", "jobs_per_device"}


def check_launcher(launcher: DictConfig) -> None:
    """``hydra.launcher.jobs_per_device`` (``hydra/launcher=parallel``) is a whole number >= 1, the parallel
    launcher is given no key it would ignore, and ``hydra/launcher=ray`` has Ray installed, before any job."""
    if str(launcher.get("_target_", "")).endswith("experiments_launcher.ray_launcher.OrderedRayLauncher"):
        check_ray_installed()
    if str(launcher.get("_target_", "")).endswith("experiments_launcher.parallel_launcher.ParallelLauncher"):
        ignored = sorted(set(launcher) - PARALLEL_LAUNCHER_KEYS)
        if ignored:
            raise ConfigError(
                f"hydra.launcher.{ignored[0]}",
                "hydra/launcher=parallel takes n_jobs and jobs_per_device only (its jobs go to loky one by one, "
                "so joblib's other settings would change nothing)",
            )
    value = launcher.get("jobs_per_device", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            "hydra.launcher.jobs_per_device",
            f"must be a whole number >= 1 (got {value!r}); e.g. hydra.launcher.jobs_per_device=4 lets four "
            "small jobs share each GPU",
        )
