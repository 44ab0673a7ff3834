"""Reading checkpoints and weight files safely: tensors and plain values only, never pickled code."""

from __future__ import annotations

import pickle
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
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unsupported content"
        raise ConfigError(
            key,
            f"{path} is not a plain tensor file and was refused by torch.load(weights_only=True) "
            f"({first}). Only load files you trust; re-save the weights with torch.save(model.state_dict(), path).",
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        raise ConfigError(key, f"{path} is not a readable checkpoint ({error})") from None
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
