"""Reading checkpoints and weight files safely: tensors and plain values only, never pickled code."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from experiments.config import ConfigError


def load_checkpoint(
    path: str | Path, *, key: str = "resume", expect_model: str | None = None
) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with errors that name the config key, the file and the fix."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(key, f"no file at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        what = f"it pickles {found.group(1)}" if found else "it holds objects besides tensors"
        raise ConfigError(
            key,
            f"{path} is not a plain tensor file ({what}) and was refused by torch.load(weights_only=True). "
            "Only load files you trust; re-save the weights with torch.save(model.state_dict(), path).",
        ) from None
    except Exception as error:  # torch's readers raise many kinds on a file that is no checkpoint
        raise ConfigError(key, f"{path} is not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(state, dict):
        raise ConfigError(key, f"{path} holds a {type(state).__name__}, not a state_dict or checkpoint")
    saved = (
        (state.get("config") or {}).get("model", {}).get("name")
        if isinstance(state.get("config"), dict)
        else None
    )
    if expect_model is not None and saved is not None and saved != expect_model:
        raise ConfigError(
            key,
            f"{path} is a checkpoint of model={saved}, but this run is model={expect_model}; add model={saved}",
        )
    return state


def refuse_bad_weights(cfg: Any) -> None:
    """Before a run dir exists: the starting weights must be a readable plain tensor file (or the ImageNet name)."""
    from omegaconf import OmegaConf

    weights = OmegaConf.select(cfg, "model.net.weights", default=None)
    if weights is None or str(weights) == "IMAGENET1K_V1":
        return
    key = "model.weights" if OmegaConf.select(cfg, "model.weights", default=None) else "model.net.weights"
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise ConfigError(
            key, f"no file at {path}; give the path of a saved state_dict or a run's checkpoint"
        )
    load_checkpoint(path, key=key)


def atomic_checkpoint_io() -> Any:
    """Lightning's ``TorchCheckpointIO``, writing each ``.ckpt`` as a temporary file in its own dir, fsynced, renamed.

    Lightning's own writer goes through an fsspec transaction: a temporary file in ``/tmp``, then a
    copy across filesystems that a full disk leaves truncated under the checkpoint's real name.
    """
    import io

    import torch
    from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

    from experiments.records.atomic import write_atomic

    class AtomicCheckpointIO(TorchCheckpointIO):
        def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
            if storage_options is not None or "://" in str(path):
                super().save_checkpoint(checkpoint, path, storage_options)
                return
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            write_atomic(Path(path), buffer.getbuffer())

    return AtomicCheckpointIO()


def reroot_checkpoint_state(checkpoint: dict[str, Any], dirpaths: dict[str, str]) -> list[str]:
    """Point the ``ModelCheckpoint`` states of a loaded checkpoint at today's checkpoint dirs (a moved run dir).

    ``dirpaths``: each callback's state key -> its ``dirpath`` now. Lightning keeps absolute paths
    in the state (``best_model_path``, ``best_k_models`` ...) and would test, or resume, from the
    dir the run was in before. Returns the state keys that were re-rooted.
    """
    moved = []
    for key, state in (checkpoint.get("callbacks") or {}).items():
        now = dirpaths.get(key)
        before = state.get("dirpath") if isinstance(state, dict) else None
        if now is None or not before or before == now:
            continue

        def moved_path(path: Any, before: str = before, now: str = now) -> Any:
            if isinstance(path, str) and path.startswith(before.rstrip("/") + "/"):
                return now.rstrip("/") + path[len(before.rstrip("/")) :]
            return path

        for field in ("best_model_path", "last_model_path", "kth_best_model_path"):
            if field in state:
                state[field] = moved_path(state[field])
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {moved_path(k): v for k, v in state["best_k_models"].items()}
        state["dirpath"] = now
        moved.append(str(key))
    return moved


def set_aside_checkpoints(run_dir: str | Path) -> Path | None:
    """A run that starts from scratch in a dir that has checkpoints of an earlier attempt: move them to
    ``checkpoints.attempt-N`` (kept, not deleted). Returns where they went, None where there were none.

    Lightning would otherwise write ``best-v1.ckpt`` / ``last-v1.ckpt`` beside the stale ``last.ckpt``, and a
    later ``resume=`` of the dir would pick the stale one up and redo the epochs trained since.
    """
    checkpoints = Path(run_dir) / "checkpoints"
    if not checkpoints.is_dir() or not any(checkpoints.glob("*.ckpt")):
        return None
    attempt = 1
    while (aside := checkpoints.with_name(f"checkpoints.attempt-{attempt}")).exists():
        attempt += 1
    checkpoints.rename(aside)
    return aside


#: What a resumable checkpoint holds beyond the weights (Lightning's ``dump_checkpoint``, ``weights_only=False``).
RESUME_STATE = ("optimizer_states", "lr_schedulers", "callbacks", "MixedPrecision", "NativeMixedPrecision")
#: The resumable checkpoints of a run's ``checkpoints/`` (:mod:`experiments.training.resume` reads them).
RESUMABLE = ("last.ckpt", "interrupted.ckpt")


def keep_checkpoints(best_path: str | Path | None, keep: str) -> list[Path]:
    """At a successful end, ``checkpoints.keep=best``: the best weights alone, without optimizer state.

    ``last.ckpt`` and ``interrupted.ckpt`` beside ``best_path`` are deleted, and a best checkpoint that still
    holds optimizer state (written whole before this policy, or under ``keep=all`` and resumed with ``best``)
    is rewritten as weights only. ``keep=all``, or no best checkpoint (nothing monitored), keeps every file.
    A failed or interrupted run never gets here: its ``last.ckpt`` stays to resume. Returns the deleted files.
    """
    import io

    import torch

    from experiments.records.atomic import write_atomic

    if keep == "all" or not best_path or not Path(best_path).is_file():
        return []
    best = Path(best_path)
    state = load_checkpoint(best, key="checkpoints.keep")
    if any(key in state for key in RESUME_STATE):
        buffer = io.BytesIO()
        torch.save({k: v for k, v in state.items() if k not in RESUME_STATE}, buffer)
        write_atomic(best, buffer.getbuffer())
    deleted = []
    for name in RESUMABLE:
        path = best.parent / name
        if path.is_file() and path != best:
            path.unlink()
            deleted.append(path)
    return deleted
