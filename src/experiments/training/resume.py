"""``resume=auto|<run dir>|<checkpoint>``: what to continue from, checked before any training starts.

A run dir another process is training in is never continued (its lock, :mod:`experiments.records.lock`);
of its checkpoints the newest that loads is taken (torch is imported only to check them).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError
from experiments.records.lock import lock_holder, refuse_locked
from experiments.records.run_record import RunRecord

CHECKPOINTS = ("interrupted.ckpt", "last.ckpt")
# Keys that may differ between a run and its continuation.
VOLATILE = ("paths", "resume", "hydra", "sweep", "tags")


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in VOLATILE}


def checkpoints_newest_first(run_dir: Path) -> list[Path]:
    """``interrupted.ckpt`` and ``last.ckpt`` of a run dir's ``checkpoints/``, the newest first."""
    found = [run_dir / "checkpoints" / name for name in CHECKPOINTS]
    return sorted((p for p in found if p.is_file()), key=lambda p: p.stat().st_mtime, reverse=True)


def latest_checkpoint(run_dir: Path, skipped: list[str] | None = None) -> Path | None:
    """The newest of ``interrupted.ckpt`` and ``last.ckpt`` that loads (``torch.load(weights_only=True)``).

    Each newer one that does not load is noted in ``skipped`` (its name and why).
    """
    from experiments.training.checkpoints import load_checkpoint

    for checkpoint in checkpoints_newest_first(run_dir):
        try:
            load_checkpoint(checkpoint)
        except ConfigError as error:
            if skipped is not None:
                skipped.append(str(error).split(": ", 1)[-1].replace(str(checkpoint), checkpoint.name))
            continue
        return checkpoint
    return None


def find_resumable(root: Path, cfg: DictConfig) -> Path | None:
    """The newest unfinished run dir under ``root`` whose saved config equals ``cfg`` (paths aside)."""
    return next(resumable_runs(root, cfg), None)


def resumable_runs(root: Path, cfg: DictConfig) -> Iterator[Path]:
    """Unfinished run dirs under ``root`` with ``cfg``'s config and a checkpoint, not in use; the newest first."""
    wanted = _identity(OmegaConf.to_container(cfg, resolve=False))
    candidates = sorted(root.glob("**/.hydra/config.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for saved in candidates:
        run_dir = saved.parent.parent
        if (
            RunRecord.read(run_dir).ok
            or not checkpoints_newest_first(run_dir)
            or lock_holder(run_dir) is not None
        ):
            continue
        if _identity(OmegaConf.to_container(OmegaConf.load(saved), resolve=False)) == wanted:
            yield run_dir


def resolve_resume(
    value: str, cfg: DictConfig, root: Path = Path("outputs"), skipped: list[str] | None = None
) -> tuple[Path, Path] | None:
    """``(run dir, checkpoint)`` to continue, or None for ``auto`` without a match. Raises ConfigError.

    ``skipped`` collects the newer checkpoints passed over because they do not load.
    """
    skipped = [] if skipped is None else skipped
    if value == "auto":
        for run_dir in resumable_runs(root, cfg):
            checkpoint = latest_checkpoint(run_dir, skipped)
            if checkpoint is not None:
                return run_dir, checkpoint
        return None
    path = Path(value)
    if not path.exists():
        raise ConfigError("resume", f"{value} does not exist; give a run dir, a .ckpt file, or resume=auto")
    if path.is_dir():
        refuse_locked(path)
        checkpoint = latest_checkpoint(path, skipped)
        if checkpoint is None:
            found = "; ".join(skipped) or "none is there"
            finished = (
                ": a run that ended ok keeps its best weights only (checkpoints.keep=all keeps last.ckpt to "
                "train it further); experiments test <run dir> evaluates them"
                if RunRecord.read(path).ok and not skipped
                else ""
            )
            raise ConfigError(
                "resume", f"{value} has no checkpoints/interrupted.ckpt or last.ckpt that loads ({found}){finished}"
            )
        return path, checkpoint
    if path.suffix != ".ckpt":
        raise ConfigError(
            "resume",
            f"{value} is neither a run dir nor a .ckpt file; give a run dir, a .ckpt file, or resume=auto",
        )
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    refuse_locked(run_dir)
    from experiments.training.checkpoints import load_checkpoint

    load_checkpoint(path)  # read-only: a file that does not load is refused before anything is written
    saved = run_dir / ".hydra" / "config.yaml"
    if saved.is_file():
        model = OmegaConf.select(OmegaConf.load(saved), "model.name")
        if model != cfg.model.name:
            raise ConfigError(
                "resume",
                f"{value} is a checkpoint of model={model}, but this run is model={cfg.model.name}; "
                f"add model={model} or resume another run",
            )
    return run_dir, path


#: What fixes the shape of a run's tensors: a continuation that changes one of these cannot load its checkpoint.
SHAPE_KEYS = ("model.name", "data.num_classes", "data.channels", "image_size")


def refuse_other_run(run_dir: Path, cfg: DictConfig) -> None:
    """Before anything is written to ``run_dir``: the continuation must be the same network as the run saved
    there (its ``.hydra/config.yaml``), else a ConfigError on ``resume`` and the run dir is left as it was."""
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        return
    try:
        old = OmegaConf.load(saved)
    except Exception as error:  # a hand-edited or truncated file
        raise ConfigError(
            "resume", f"{saved} is not a readable config ({' '.join(str(error).split())})"
        ) from None
    for key in SHAPE_KEYS:
        before = OmegaConf.select(old, key, default=None, throw_on_resolution_failure=False)
        now = OmegaConf.select(cfg, key, default=None)
        if before is not None and before != now:
            raise ConfigError(
                "resume",
                f"{run_dir} is a run of {key}={before}, but this command asks for {key}={now}; "
                f"drop {key}={now} to continue it, or start a new run without resume=",
            )
