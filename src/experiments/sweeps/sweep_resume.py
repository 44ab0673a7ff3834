"""``-m ... sweep.resume=true|DIR``: rerun a sweep into its old dir (finished jobs are then skipped)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from experiments.config import ConfigError

MULTIRUN_ROOT = Path("outputs/multirun")


def find_sweep_to_resume(root: Path, task_overrides: Sequence[str]) -> Path | None:
    """The newest sweep dir under ``root`` whose ``multirun.yaml`` has the same overrides."""
    wanted = sorted(o for o in task_overrides if not o.startswith("sweep.resume") and not _hydra_override(o))
    if not root.is_dir():
        return None
    candidates = sorted(root.glob("*/*/multirun.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for saved in candidates:
        task = OmegaConf.select(OmegaConf.load(saved), "hydra.overrides.task", default=[]) or []
        if sorted(str(o) for o in task if not str(o).startswith("sweep.resume")) == wanted:
            return saved.parent
    return None


def resume_argument(argv: list[str], root: Path = MULTIRUN_ROOT) -> list[str]:
    """For a sweep's ``sweep.resume=true|DIR`` (``argv``: its overrides, with or without ``-m``): point
    ``hydra.sweep.dir`` at the sweep to resume.

    ``true`` takes the newest sweep under ``outputs/multirun`` whose saved overrides equal this command's.
    """
    resume = next((a.split("=", 1)[1] for a in argv if a.startswith("sweep.resume=")), None)
    if resume in (None, "false", "False", "null") or any(a.startswith("hydra.sweep.dir=") for a in argv):
        return argv
    if resume.lower() == "true":
        # Hydra keeps its own overrides (hydra.x=..., hydra/launcher=parallel) apart from the task's
        overrides = [a for a in argv if "=" in a and not _hydra_override(a)]
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


def _hydra_override(argument: str) -> bool:
    """``hydra.sweep.dir=...``, ``hydra/launcher=parallel``, ``+hydra/...``: Hydra's, not the task's; flags too."""
    return argument.startswith("-") or argument.lstrip("+~").startswith(("hydra.", "hydra/"))
