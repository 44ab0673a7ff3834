"""``resume=auto|<run dir>|<checkpoint>``: what to continue from, checked before any training starts (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError

CHECKPOINTS = ("interrupted.ckpt", "last.ckpt")
# Keys that may differ between a run and its continuation.
VOLATILE = ("paths", "resume", "hydra", "sweep", "tags")


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in VOLATILE}


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newer of ``interrupted.ckpt`` and ``last.ckpt`` in a run dir's ``checkpoints/``."""
    found = [
        run_dir / "checkpoints" / name for name in CHECKPOINTS if (run_dir / "checkpoints" / name).is_file()
    ]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def find_resumable(root: Path, cfg: DictConfig) -> Path | None:
    """The newest unfinished run dir under ``root`` whose saved config equals ``cfg`` (paths aside)."""
    wanted = _identity(OmegaConf.to_container(cfg, resolve=False))
    candidates = sorted(root.glob("**/.hydra/config.yaml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for saved in candidates:
        run_dir = saved.parent.parent
        results = run_dir / "results.json"
        status = json.loads(results.read_text()).get("status") if results.is_file() else "missing"
        if status == "ok" or latest_checkpoint(run_dir) is None:
            continue
        if _identity(OmegaConf.to_container(OmegaConf.load(saved), resolve=False)) == wanted:
            return run_dir
    return None


def resolve_resume(value: str, cfg: DictConfig, root: Path = Path("outputs")) -> tuple[Path, Path] | None:
    """``(run dir, checkpoint)`` to continue, or None for ``auto`` without a match. Raises ConfigError."""
    if value == "auto":
        run_dir = find_resumable(root, cfg)
        if run_dir is None:
            return None
        return run_dir, latest_checkpoint(run_dir)  # type: ignore[return-value]
    path = Path(value)
    if not path.exists():
        raise ConfigError("resume", f"{value} does not exist; give a run dir, a .ckpt file, or resume=auto")
    if path.is_dir():
        checkpoint = latest_checkpoint(path)
        if checkpoint is None:
            raise ConfigError(
                "resume", f"{value} has no checkpoints/interrupted.ckpt or last.ckpt to continue from"
            )
        return path, checkpoint
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
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
