"""The command line: ``python -m experiments [overrides]`` (Hydra). Torch loads only once a job trains."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from experiments.config import ConfigError, config_dir, validate

log = logging.getLogger("experiments")


def _resume_argument(argv: list[str], root: Path = Path("outputs/multirun")) -> list[str]:
    """For ``-m ... sweep.resume=true|DIR``: point ``hydra.sweep.dir`` at the sweep to resume.

    ``true`` takes the newest sweep under ``outputs/multirun`` whose saved overrides equal this command's.
    """
    from experiments.sweep import find_sweep_to_resume

    resume = next((a.split("=", 1)[1] for a in argv if a.startswith("sweep.resume=")), None)
    multirun = "-m" in argv or "--multirun" in argv
    if (
        not multirun
        or resume in (None, "false", "False", "null")
        or any(a.startswith("hydra.sweep.dir=") for a in argv)
    ):
        return argv
    if resume.lower() == "true":
        overrides = [a for a in argv if "=" in a and not a.startswith(("-", "hydra."))]
        found = find_sweep_to_resume(root, overrides)
        if found is None:
            raise ConfigError(
                "sweep.resume",
                f"no sweep under {root} was run with the overrides {overrides}; "
                "give its dir instead: sweep.resume=outputs/multirun/<date>/<time>",
            )
    else:
        found = Path(resume)
        if not (found / "multirun.yaml").is_file():
            raise ConfigError("sweep.resume", f"{resume} is not a sweep dir (no multirun.yaml in it)")
    print(f"Resuming sweep {found}: finished jobs are skipped")
    return [*argv, f"hydra.sweep.dir={found}"]


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="config")
def train(cfg: DictConfig) -> float | None:
    """One job: validate the config, then train, test and write ``results.json`` in the run dir.

    In a sweep a failing job is recorded in its ``results.json`` and the sweep goes on; with
    ``sweep.resume`` a job whose ``results.json`` says ``ok`` is skipped.
    """
    multirun = _is_multirun()
    output_dir = Path(cfg.paths.output_dir)
    if multirun and cfg.get("sweep", {}).get("resume"):
        finished = _finished_result(output_dir)
        if finished is not None:
            print(f"Skipping finished job {output_dir} (sweep.resume)")
            metrics = finished.get("metrics") or {}
            key = cfg.optimized_metric
            return metrics.get(f"{key}_best", metrics.get(key))
    try:
        validate(cfg)
    except ConfigError as error:
        if multirun:
            from experiments.results import Results

            Results(output_dir).update(status="failed", error=f"ConfigError: {error}")
            print(f"Config error: {error}", file=sys.stderr)
            return None
        print(f"Config error: {error}", file=sys.stderr)
        sys.exit(2)
    from experiments.run import run_job

    if not multirun:
        return run_job(cfg)
    try:
        return run_job(cfg)
    except Exception as error:  # recorded in results.json by run_job; the sweep goes on
        print(f"Job failed ({output_dir}): {type(error).__name__}: {error}", file=sys.stderr)
        return float("nan") if _searching() else None


def _searching() -> bool:
    """A search sweeper (Optuna) needs a number from every trial; NaN marks a failed one."""
    from hydra.core.hydra_config import HydraConfig

    return "direction" in HydraConfig.get().sweeper


def _finished_result(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    return results if results.get("status") == "ok" else None


def main() -> None:
    from experiments.sweep import SweepCallback, invalid_jobs

    argv = sys.argv[1:]
    if argv[:1] == ["compare"]:  # `experiments compare PATH...` = `python -m experiments.compare PATH...`
        from experiments.compare.main import main as compare

        sys.exit(compare(argv[1:]))
    Path("outputs").mkdir(exist_ok=True)  # the output root; the Optuna study's sqlite file lives there too
    try:
        if "-m" in argv or "--multirun" in argv:
            problems = invalid_jobs(argv)
            if problems:
                raise ConfigError(
                    "sweep", "no job was started; these jobs have bad values:\n  " + "\n  ".join(problems)
                )
        sys.argv = [sys.argv[0], *_resume_argument(argv)]
        train()
    except ConfigError as error:  # raised before any job starts (sweep resume, sweep-wide validation)
        print(f"Config error: {error}", file=sys.stderr)
        sys.exit(2)
    if SweepCallback.failed_jobs:
        sys.exit(1)


if __name__ == "__main__":
    main()
