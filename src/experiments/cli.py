"""The command line: ``python -m experiments [overrides]`` (Hydra). Torch loads only once a job trains."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from experiments.config import ConfigError, config_dir, validate

log = logging.getLogger("experiments")
INFO_FLAGS = (
    "--help",
    "-h",
    "--hydra-help",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--shell-completion",
    "-sc",
    "--version",
)


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
        if not multirun:
            _fail(error)
        from experiments.results import Results

        Results(output_dir).update(status="failed", error=f"ConfigError: {error}")
        print(f"Config error: {error}", file=sys.stderr)
        return None
    from experiments.data.sources import DataSourceError
    from experiments.run import run_job
    from experiments.signals import Interrupted

    try:
        return run_job(cfg)
    except Interrupted as stop:
        print(
            f"Interrupted ({stop}); results.json says interrupted. Continue with: resume={output_dir}",
            file=sys.stderr,
        )
        sys.exit(stop.exit_code)
    except (DataSourceError, ConfigError) as error:
        if not multirun:
            _fail(error)
        print(f"Job failed ({output_dir}): {error}", file=sys.stderr)
    except Exception as error:  # recorded in results.json by run_job; a sweep goes on
        if not multirun:
            raise
        print(f"Job failed ({output_dir}): {type(error).__name__}: {error}", file=sys.stderr)
    return float("nan") if _searching() else None


def _fail(error: Exception) -> None:
    """One paragraph and exit code 2 for bad input (the traceback with ``HYDRA_FULL_ERROR=1``)."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        raise error
    kind = "Config error" if isinstance(error, ConfigError) else "Error"
    print(f"{kind}: {error}", file=sys.stderr)
    sys.exit(2)


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


def prepare(argv: list[str]) -> list[str]:
    """Check the command line before Hydra starts (no run dir yet, no torch) and resolve resumes.

    Composition errors, bad values (of every job of a grid sweep), a reused run dir and ``resume=``
    targets raise :class:`ConfigError`. Returns the command line to run, e.g. with the ``hydra.run.dir``
    of a run to continue.
    """
    from experiments.sweep import invalid_jobs

    if any(a in INFO_FLAGS or a.startswith("--cfg") for a in argv):
        return argv
    if "-m" in argv or "--multirun" in argv:
        problems = invalid_jobs(argv)
        if problems:
            raise ConfigError(
                "sweep", "no job was started; these jobs have bad values:\n  " + "\n  ".join(problems)
            )
        return _resume_argument(argv)
    overrides = [a for a in argv if not a.startswith("-")]
    cfg = compose_checked(overrides)
    validate(cfg)
    resume = cfg.get("resume")
    if resume:
        from experiments.resume import resolve_resume

        found = resolve_resume(str(resume), cfg)
        if found is None:
            print("resume=auto: no unfinished run with this config; starting a new one")
            return [*argv, "resume=null"]
        previous, checkpoint = found
        print(f"Resuming {previous} from {checkpoint.name}")
        again = [*_saved_overrides(previous), *argv, f"hydra.run.dir={previous}", f"resume={checkpoint}"]
        validate(compose_checked([a for a in again if not a.startswith("-")]))
        return again
    run_dir = next((a.split("=", 1)[1] for a in overrides if a.startswith("hydra.run.dir=")), None)
    if run_dir and (Path(run_dir) / "results.json").is_file():
        raise ConfigError(
            "hydra.run.dir",
            f"{run_dir} already holds a run (results.json); choose a new dir, or continue it with resume={run_dir}",
        )
    return argv


def _saved_overrides(run_dir: Path) -> list[str]:
    """The overrides a run was started with, so ``resume=<run dir>`` continues it as it was."""
    from omegaconf import OmegaConf

    saved = run_dir / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        return []
    return [str(o) for o in OmegaConf.load(saved) if not str(o).startswith(("resume=", "hydra."))]


def compose_checked(overrides: list[str]) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line overrides; Hydra's errors become a ConfigError."""
    import yaml
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(
                config_name="config", overrides=[o for o in overrides if not o.startswith("hydra.")]
            )
    except (HydraException, OmegaConfBaseException) as error:
        raise _explain(str(error)) from None
    except yaml.YAMLError as error:  # a hand-edited config file that is not valid YAML
        raise ConfigError("config files", f"not valid YAML: {' '.join(str(error).split())}") from None
    finally:
        GlobalHydra.instance().clear()


def _explain(message: str) -> ConfigError:
    """Hydra's composition error as one line naming the key: ``pooling: no option 'foo'; choose one of ...``."""
    import re

    missing = re.search(r"Could not find '([\w/]+)/([^']+)'", message)
    options = re.search(r"Available options in '[^']+':\s*(.*?)\s*Config search path", message, re.S)
    if missing:
        group, option = missing.groups()
        choices = ", ".join(options.group(1).split()) if options else "see conf/" + group
        return ConfigError(group.replace("/", "."), f"no option '{option}'; choose one of {choices}")
    key = re.search(r"Could not override '([^']+)'", message)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    lines = lines[
        : next((i for i, line in enumerate(lines) if line.startswith("Config search path")), len(lines))
    ]
    return ConfigError(key.group(1) if key else "overrides", " ".join(lines))


def config_groups(root: Path) -> dict[str, list[str]]:
    """Every config group under ``root`` (``hydra/launcher`` too) and its options, from the YAML files."""
    groups: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.yaml")):
        if path.parent != root:
            groups.setdefault(path.parent.relative_to(root).as_posix(), []).append(path.stem)
    return groups


def print_help(argv: list[str]) -> None:
    """``--help``: the groups and options read from ``conf/`` and the config these overrides compose.

    Replaces Hydra's help, which rebuilds its config repository by deep copy once per group and option
    (~0.5 s; docs/benchmarks.md). ``--hydra-help`` still prints Hydra's own flags.
    """
    from omegaconf import OmegaConf

    overrides = [a for a in argv if not a.startswith("-")]
    lines = [
        "experiments: train and compare classic CNNs from composed config groups (Hydra + Lightning).",
        "",
        "Usage: python -m experiments [GROUP=OPTION ...] [KEY=VALUE ...]      one run",
        "       python -m experiments -m GROUP=A,B KEY=1,2 ...                a sweep (every combination)",
        "       python -m experiments compare PATH...                         a report of finished runs",
        "       python -m experiments --cfg job [overrides]                   print the composed config",
        "       python -m experiments --hydra-help                            Hydra's own flags",
        "",
        "== Config groups == (GROUP=OPTION)",
        *(f"{group}: {', '.join(options)}" for group, options in config_groups(config_dir()).items()),
        "",
        f"== Config == ({' '.join(overrides) or 'the defaults'}; override any key with KEY=VALUE)",
        OmegaConf.to_yaml(compose_checked(overrides)),
    ]
    print("\n".join(lines))


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["compare"]:  # `experiments compare PATH...` = `python -m experiments.compare PATH...`
        from experiments.compare.main import main as compare

        sys.exit(compare(argv[1:]))
    if ("--help" in argv or "-h" in argv) and "--hydra-help" not in argv:
        try:
            print_help(argv)
        except ConfigError as error:
            _fail(error)
        return
    from experiments.sweep import SweepCallback

    Path("outputs").mkdir(exist_ok=True)  # the output root; the Optuna study's sqlite file lives there too
    try:
        sys.argv = [sys.argv[0], *prepare(argv)]
    except ConfigError as error:
        _fail(error)
    train()
    if SweepCallback.failed_jobs:
        sys.exit(1)


if __name__ == "__main__":
    main()
