"""Checks that need the data's files or the weights' tensors, run before a run dir exists.

Composing and validating stay torch-free; these run only once a job is going to train (torch loads then
anyway): a dataset's files are where its source expects them, a ``model.weights`` file has tensors that
fit the model. A refusal is one ``ConfigError`` line and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from experiments.config import ConfigError

IMAGENET_WEIGHTS = "IMAGENET1K_V1"


def check_data_files(cfg: DictConfig) -> None:
    """The data source's files are there (``inputs()``); with ``data.download=true`` the job fetches them."""
    if OmegaConf.select(cfg, "data.download", default=False) is True:
        return
    node = OmegaConf.select(cfg, "data.source", default=None)
    if node is None:
        return
    from hydra.utils import instantiate

    from experiments.data.errors import DataSourceError

    try:
        source = instantiate(node)
        inputs = getattr(source, "inputs", None)
        if inputs is not None:
            inputs()
    except DataSourceError as error:
        raise ConfigError("data.root", " ".join(str(error).split())) from None


def check_weights_fit(cfg: DictConfig) -> None:
    """A ``model.weights`` file must hold tensors of this model's layers with their shapes (read with
    ``torch.load(weights_only=True, mmap=True)``; the model is built on the meta device, no memory)."""
    weights = OmegaConf.select(cfg, "model.net.weights", default=None)
    if weights is None or str(weights) == IMAGENET_WEIGHTS:
        return
    import torch
    from hydra.utils import instantiate

    from experiments.models.alexnet import network_state

    path = Path(str(weights)).expanduser()
    key = "model.weights" if OmegaConf.select(cfg, "model.weights", default=None) else "model.net.weights"
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # an old (non-zip) file cannot be memory-mapped
        saved = torch.load(path, map_location="cpu", weights_only=True)
    state = network_state(saved) if isinstance(saved, dict) else {}
    with torch.device("meta"):
        own = {k: tuple(v.shape) for k, v in instantiate(cfg.model.net, weights=None).state_dict().items()}
    shapes = {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}
    fitting = [k for k, shape in shapes.items() if own.get(k) == shape]
    unexpected = sorted(set(shapes) - set(own))
    model = cfg.model.name
    if not fitting:
        raise ConfigError(
            key,
            f"{path} has no tensor that fits model={model} ({_example(shapes, own)}); give weights of this model",
        )
    if unexpected:
        raise ConfigError(key, f"{path} has tensors model={model} lacks: {', '.join(unexpected[:5])}")


def _example(shapes: dict[str, Any], own: dict[str, Any]) -> str:
    same = next((k for k in shapes if k in own), None)
    if same is not None:
        return f"{same} is {list(shapes[same])} there, {list(own[same])} here"
    return f"it holds {', '.join(list(shapes)[:3]) or 'no tensors'}"
