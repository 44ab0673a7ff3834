"""``hydra/sweeper=fair``: a hyperparameter-fair comparison as one sweep (:mod:`experiments.sweeps.fair_plan`).

Stage after stage, each a batch of ordinary jobs handed to whichever launcher the sweep uses (sequential,
``parallel``, SLURM): the tuning stage, then each arm at its chosen setting and at the shared one, then
extra seeds where an arm's interval is still too wide. Scores are read from the jobs' records, so a resumed
sweep (``sweep.resume=true``: finished jobs are skipped) chooses exactly as the first attempt did. The
choices, each arm's tuning curve and the rounds of extra seeds are written to ``fair_study.json``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.records.atomic import write_atomic
from experiments.records.run_record import RunRecord
from experiments.sweeps.fair_plan import (
    FairSettings,
    PlannedJob,
    arm_twins,
    at_edge,
    choose_points,
    evaluation_identical,
    evaluation_jobs,
    extra_seed_jobs,
    tuning_jobs,
)
from experiments.sweeps.fair_settings import fair_settings
from experiments.sweeps.identical import identical_jobs

PLAN_FILE = "fair_study.json"


class FairSweeper(Sweeper):
    """Tune every arm with the same budget on validation, then evaluate each at its choice on fresh seeds."""

    def __init__(self, **settings: Any) -> None:
        super().__init__()
        self.settings = settings
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        sweeper = OmegaConf.to_container(self.config.hydra.sweeper, resolve=True)
        fair = fair_settings(sweeper, arguments)
        sesoi = float(OmegaConf.select(self.config, "compare.sesoi", default=0.5))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        tune = tuning_jobs(fair)
        checked = getattr(self.task_function, "keywords", {}).get("identical")
        tuning_identical = checked if checked is not None else identical_jobs(self._configs(tune))
        print(f"Fair study: {len(fair.arms)} arms x {len(fair.tune)} settings x {len(fair.tuning_seeds)} tuning seed(s) "
              f"= {len(tune)} tuning jobs, scored on {fair.metric} (validation)", flush=True)
        self._launch(tune, tuning_identical, sweep_dir)

        scores = {job.number: RunRecord.read(sweep_dir / str(job.number)).metric(fair.metric) for job in tune}
        chosen, curves = choose_points(fair, scores)
        twins = arm_twins(fair, tuning_identical) if tune else self._twins_by_config(fair)
        evaluation = evaluation_jobs(fair, chosen)
        shared = self._shared_points(fair, evaluation)
        plan = _plan(fair, chosen, curves, shared, sesoi)
        _write_plan(sweep_dir, plan)
        for line in _choice_lines(fair, chosen, curves) if fair.tuned_keys else []:
            print(line, flush=True)
        self._launch(evaluation, evaluation_identical(fair, evaluation, twins, chosen, shared), sweep_dir)

        if fair.max_seeds:
            self._extra_seeds(fair, chosen, evaluation, twins, sesoi, sweep_dir, plan)
        return None

    # ---- stages ------------------------------------------------------------------------------------

    def _extra_seeds(self, fair: FairSettings, chosen: list[int], evaluation: list[PlannedJob], twins: dict[int, int],
                     sesoi: float, sweep_dir: Path, plan: dict[str, Any]) -> None:
        from experiments.sweeps.adaptive_seeds import arms_needing_seeds

        best = [j for j in evaluation if j.stage == "best"]
        for index in range(fair.extra_per_arm):
            scores = {arm: _points(sweep_dir, [j for j in best if j.arm == arm]) for arm in range(len(fair.arms))}
            wide = arms_needing_seeds(scores, sesoi, fair.max_seeds or 0, twins=twins)
            if not wide:
                print(f"Every arm's interval is within +-{sesoi / 2:g} points (compare.sesoi / 2): no more seeds",
                      flush=True)
                break
            round_jobs = extra_seed_jobs(fair, chosen, wide, index)
            print(f"Extra seed round {index + 1}: seed {round_jobs[0].seed} for {len(wide)} arm(s) whose interval "
                  f"is wider than +-{sesoi / 2:g} points", flush=True)
            plan["extra_rounds"].append({"seed": round_jobs[0].seed, "arms": wide})
            _write_plan(sweep_dir, plan)
            by_arm = {j.arm: j.number for j in round_jobs}
            same = {by_arm[a]: by_arm[t] for a, t in twins.items() if a in by_arm and t in by_arm}
            self._launch(round_jobs, same, sweep_dir)
            best += round_jobs

    def _launch(self, jobs: Sequence[PlannedJob], identical: dict[int, int], sweep_dir: Path) -> None:
        """One stage's jobs through the configured launcher, each at its fixed number."""
        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        _set_aside_changed(jobs, sweep_dir)
        task = self.task_function
        if isinstance(task, functools.partial):
            task = functools.partial(task.func, *task.args, **{**task.keywords, "identical": identical})
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=self.hydra_context, task_function=task, config=self.config
        )
        for start, batch in _runs_of_numbers(jobs):
            launcher.launch([job.overrides for job in batch], initial_job_idx=start)

    def _configs(self, jobs: Sequence[PlannedJob]) -> list[DictConfig | None]:
        assert self.hydra_context is not None and self.config is not None
        loader = self.hydra_context.config_loader
        return [loader.load_sweep_config(self.config, list(job.overrides)) for job in jobs]

    def _twins_by_config(self, fair: FairSettings) -> dict[int, int]:
        """Without a tuning stage: the arms whose first evaluation job is the same experiment as an earlier
        arm's (composed here, as the up-front check composes the tuning jobs)."""
        firsts = [j for j in evaluation_jobs(fair, [0] * len(fair.arms)) if j.stage == "best" and j.seed == fair.seeds[0]]
        configs = self._configs(firsts)
        for cfg in configs:  # Hydra's own node (hydra.job.num is unset here) is not the experiment
            with open_dict(cfg):
                cfg.pop("hydra", None)
        return {firsts[job].arm: firsts[earlier].arm for job, earlier in identical_jobs(configs).items()}

    def _shared_points(self, fair: FairSettings, evaluation: Sequence[PlannedJob]) -> dict[int, int | None]:
        from experiments.sweeps.grid import shared_point

        firsts = {j.arm: j for j in evaluation if j.stage == "shared" and j.seed == fair.seeds[0]}
        configs = self._configs(list(firsts.values()))
        return {arm: shared_point(fair, cfg) for arm, cfg in zip(firsts, configs) if cfg is not None}


def _runs_of_numbers(jobs: Sequence[PlannedJob]) -> list[tuple[int, list[PlannedJob]]]:
    """Jobs with consecutive numbers, as the launcher numbers a batch from its first job."""
    runs: list[tuple[int, list[PlannedJob]]] = []
    for job in sorted(jobs, key=lambda j: j.number):
        if runs and runs[-1][0] + len(runs[-1][1]) == job.number:
            runs[-1][1].append(job)
        else:
            runs.append((job.number, [job]))
    return runs


def _set_aside_changed(jobs: Sequence[PlannedJob], sweep_dir: Path) -> None:
    """On a resumed sweep, a job dir whose record ran other overrides (a choice changed since) is moved aside,
    so that its record is never taken for this job's."""
    for job in jobs:
        run_dir = sweep_dir / str(job.number)
        record = RunRecord.read(run_dir)
        if record.status in ("missing", "unreadable"):
            continue
        had = {o for o in record.overrides if not o.startswith("sweep.")}
        if had and had != {o for o in job.overrides if not o.startswith("sweep.")}:
            n = 1
            while (aside := sweep_dir / f"{job.number}.superseded-{n}").exists():
                n += 1
            run_dir.rename(aside)
            print(f"Job {job.number} ran other overrides than its stage now asks for: moved to {aside.name}")


def _points(sweep_dir: Path, jobs: Sequence[PlannedJob]) -> list[float]:
    values = [RunRecord.read(sweep_dir / str(j.number)).metric("test/acc") for j in jobs]
    return [100 * v for v in values if v is not None and math.isfinite(v)]


def _plan(fair: FairSettings, chosen: list[int], curves: list[list[float | None]],
          shared: dict[int, int | None], sesoi: float) -> dict[str, Any]:
    return {
        "tuned_keys": fair.tuned_keys,
        "grid": [[o.split("=", 1)[1] for o in point] for point in fair.tune],
        "metric": fair.metric,
        "mode": fair.mode,
        "tuning_seeds": fair.tuning_seeds,
        "seeds": fair.seeds,
        "max_seeds": fair.max_seeds,
        "sesoi": sesoi,
        "arms": [
            {
                "overrides": arm,
                "curve": curves[i],
                "chosen": chosen[i],
                "at_edge": at_edge(fair, chosen[i]),
                "shared_point": shared.get(i),
            }
            for i, arm in enumerate(fair.arms)
        ],
        "extra_rounds": [],
    }


def _write_plan(sweep_dir: Path, plan: dict[str, Any]) -> None:
    write_atomic(sweep_dir / PLAN_FILE, json.dumps(plan, indent=2) + "\n")


def _choice_lines(fair: FairSettings, chosen: list[int], curves: list[list[float | None]]) -> list[str]:
    lines = ["Chosen on validation (the evaluation stage trains each arm at its own choice):"]
    for arm, point in enumerate(chosen):
        score = curves[arm][point]
        edge = "  (at the edge of the grid: the best may lie beyond it)" if at_edge(fair, point) else ""
        shown = f"{score:.4f}" if score is not None else "no tuning job scored"
        lines.append(f"  {' '.join(fair.arms[arm]) or '(one arm)'}: {' '.join(fair.tune[point])}  {fair.metric} {shown}{edge}")
    return lines
