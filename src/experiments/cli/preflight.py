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


#: The files of the datasets we know, relative to ``data.root``, and their sizes where fixed: checked with
#: pathlib alone (no torch), so that a missing dataset is refused at once, before a run or sweep dir exists.
MNIST_SIZES = {"train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
               "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008}  # fmt: skip
KNOWN_FILES: dict[str, dict[str, int | None]] = {
    "mnist": {f"MNIST/raw/{name}": size for name, size in MNIST_SIZES.items()},
    "cifar10": {
        f"cifar-10-batches-py/{n}": None for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    },
    "flowers17": {f"jpg/image_{n:04d}.jpg": None for n in range(1, 1361)},
}


def check_known_files(cfg: DictConfig) -> None:
    """A known dataset's files (names and, for MNIST, sizes) under ``data.root``, torch-free; one line
    naming ``paths.data_dir``/``EXPERIMENTS_DATA_DIR`` and what to put there."""
    name = str(OmegaConf.select(cfg, "data.name", default=""))
    expected = KNOWN_FILES.get(name)
    root = OmegaConf.select(cfg, "data.root", default=None)
    if expected is None or root is None:
        return
    root = Path(str(root)).expanduser()
    missing = [f for f in expected if not (root / f).is_file()]
    wrong = [f"{f} ({(root / f).stat().st_size:,} bytes, not {size:,})" for f, size in expected.items()
             if f not in missing and size is not None and (root / f).stat().st_size != size]  # fmt: skip
    if not missing and not wrong:
        return
    shown = (
        ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    ) or ", ".join(wrong)
    what = "missing" if missing else "of the wrong size"
    data_dir = OmegaConf.select(cfg, "paths.data_dir", default=None)
    found = f"{name}: {len(missing) or len(wrong)} of its {len(expected)} files are {what} under {root}: {shown}."
    download = ", or data.download=true" if name in ("mnist", "cifar10") else ""
    if not _from_data_dir(cfg):  # data.root was given: name it
        raise ConfigError(
            "data.root",
            f"{found} data.root is {root}: point it at a dir holding "
            f"{next(iter(expected)).rsplit('/', 1)[0]}/...{download}",
        )
    raise ConfigError(
        "paths.data_dir",
        f"{found} paths.data_dir is {data_dir} (set EXPERIMENTS_DATA_DIR or paths.data_dir=DIR to a dir holding "
        f"{name}/{next(iter(expected)).rsplit('/', 1)[0]}/...), or set data.root=DIR{download}",
    )


def _from_data_dir(cfg: DictConfig) -> bool:
    """Whether ``data.root`` is the data option's own ``${paths.data_dir}/...`` (not a value given for it)."""
    data = cfg.get("data")
    node = data._get_node("root") if isinstance(data, DictConfig) and "root" in data else None
    return node is not None and node._is_interpolation()


def check_data_files(cfg: DictConfig) -> None:
    """The data source's files are there (``inputs()``); with ``data.download=true`` the job fetches them.

    A known dataset's files are checked by name and size first, with pathlib alone (:func:`check_known_files`);
    the source's own check (checksums, a readable index) follows where they are all there."""
    if OmegaConf.select(cfg, "data.download", default=False) is True:
        return
    check_known_files(cfg)
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


def with_data_checked(check: Any) -> Any:
    """A sweep's up-front check (``sweeps.grid.UpFrontCheck``) with each job whose known dataset's files are
    missing marked invalid (torch-free, so the dry run shows it too); one check per distinct data root."""
    from dataclasses import replace

    problems, configs = list(check.problems), list(check.configs)
    found: dict[tuple[str, str], str | None] = {}
    for number, (job, cfg) in enumerate(zip(check.jobs, check.configs)):
        if cfg is None:
            continue
        key = (str(cfg.data.name), str(OmegaConf.select(cfg, "data.root", default="")))
        if key not in found:
            try:
                check_known_files(cfg)
                found[key] = None
            except ConfigError as error:
                found[key] = str(error)
        if found[key] is not None:
            problems.append(f"job {number} ({' '.join(job)}): {found[key]}")
            configs[number] = None
    return replace(check, problems=problems, configs=configs)
