"""Validation rules: types, ranges and the model's geometry, checked before torch is imported.

Pooling and activation options are not listed here: each is a file in ``conf/pooling/`` or
``conf/activation/``, and Hydra refuses a name that has none (``pooling: no option 'median'``).
The geometry check walks the model's own layer list, ``model.features`` (plain Python, no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from experiments.config.errors import ConfigError
from experiments.config.folder_files import check_image_files
from experiments.config.folder_resolvers import check_image_folder
from experiments.config.key_rules import KEY_RULES
from experiments.config.limits import (
    AUGMENT,
    NET_RULES,
    RUN_RULES,
    SEED_MAX,
    Rule,
    check_augment,
    check_job_name,
    check_memory,
    finite,
)
from experiments.config.probe_rules import check_probes
from experiments.config.targets import check_targets
from experiments.models.geometry import (
    PADDING_MODES,
    PADDING_SIZES,
    Conv,
    GeometryError,
    Layer,
    Pool,
    as_built,
    feature_sizes,
)
from experiments.models.option_facts import (
    KEEPS_SIZE,
    LEARNED,
    LEARNED_IN_SUBSAMPLING,
    MONOTONE,
    ORDER_STATISTIC,
    SUBSAMPLING_BUILDERS,
)

# Lightning 2.x's precision flags (``Trainer(precision=...)``), as text.
PRECISIONS = (
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "64-true",
    "transformer-engine",
    "transformer-engine-float16",
    "32",
    "16",
    "bf16",
    "64",
)
MISSING = object()
AUGMENT_KEYS = set(AUGMENT)  # experiments.data.augment.Augment's fields (a test keeps the two equal)
# The shipped configs' other true/false options: a word such as ``maybe`` is refused, never read as true.
BOOLEANS = (
    "activation.inplace",
    "callbacks.checkpoint.auto_insert_metric_name",
    "callbacks.checkpoint.save_last",
    "logger.tensorboard.default_hp_metric",
    "model.net.fc_bias",
    "optimizer.nesterov",
    "trainer.enable_model_summary",
    "trainer.sync_batchnorm",
    "sweep.dry_run",
    "sweep.reuse_identical",
    *(f"{group}._partial_" for group in ("activation", "pooling", "optimizer", "scheduler.factory")),
)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def _number(value: Any) -> bool:
    return finite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


RULES: tuple[Rule, ...] = (
    Rule(
        "seed",
        lambda v: _integer(v) and 0 <= v <= SEED_MAX,
        f"must be an integer in [0, {SEED_MAX}] (numpy's and torch's seed range), e.g. seed=0",
    ),
    Rule("deterministic", lambda v: isinstance(v, bool), "must be true or false"),
    Rule(
        "threads",
        lambda v: v is None or v == "auto" or (_integer(v) and v >= 1),
        "must be auto, null (torch's default) or an integer >= 1",
        optional=True,
    ),
    Rule("plots", lambda v: isinstance(v, bool) or v == "auto", "must be auto, true or false", optional=True),
    Rule(
        "checkpoints.keep",
        lambda v: v in ("best", "all"),
        "must be best (the best weights alone at a successful end) or all",
        optional=True,
    ),
    Rule("channels_last", lambda v: isinstance(v, bool), "must be true or false", optional=True),
    Rule(
        "compile",
        lambda v: isinstance(v, bool) or v in COMPILE_MODES,
        f"must be true, false or a torch.compile mode: {', '.join(COMPILE_MODES)}",
        optional=True,
    ),
    Rule(
        "study.stage",
        lambda v: v in (None, "tune", "best", "shared"),
        "must be null, tune, best or shared (hydra/sweeper=fair sets it on its jobs)",
        optional=True,
    ),
    Rule(
        "study.tuned",
        lambda v: isinstance(v, list) and all(isinstance(k, str) and k for k in v),
        "must be a list of config keys (hydra/sweeper=fair sets it on its jobs)",
        optional=True,
    ),
    Rule(
        "compare.sesoi",
        lambda v: _number(v) and 0 < v < 100,
        "must be a number of accuracy points in (0, 100), e.g. compare.sesoi=0.5",
        optional=True,
    ),
    Rule("image_size", lambda v: _integer(v) and v >= 1, "must be a positive integer (pixels)"),
    Rule(
        "model.name",
        lambda v: isinstance(v, str) and v.strip() != "",
        "must be the model's name (its file stem in conf/model/), e.g. lenet5",
    ),
    Rule("model.net.dropout", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)", optional=True),
    Rule("pooling.norm_type", lambda v: _number(v) and v > 0, "must be a positive number", optional=True),
    Rule(
        "pooling.filter_size",
        lambda v: _integer(v) and 1 <= v <= 64,
        "must be an integer in [1, 64] (the blur's side; 4 is Zhang's default)",
        optional=True,
    ),
    *(  # the options' facts that sweeps/identical.py and the geometry read (models/option_facts.py)
        Rule(key, lambda v: isinstance(v, bool), "must be true or false", optional=True)
        for key in (
            f"pooling.{ORDER_STATISTIC}",
            f"pooling.{KEEPS_SIZE}",
            f"pooling.{LEARNED}",
            "pooling.activate",
            f"activation.{MONOTONE}",
            "model.pool_follows_activation",
            *BOOLEANS,
        )
    ),
    Rule(
        "padding.size",
        lambda v: v in PADDING_SIZES or (_integer(v) and v >= 0),
        f"must be one of {PADDING_SIZES} or a non-negative integer",
    ),
    Rule("padding.mode", lambda v: v in PADDING_MODES, f"must be one of {PADDING_MODES}"),
    Rule("padding.value", _number, "must be a number", optional=True),
    Rule("data.batch_size", lambda v: _integer(v) and v >= 1, "must be an integer >= 1"),
    Rule("data.num_classes", lambda v: _integer(v) and v >= 2, "must be an integer >= 2"),
    Rule("data.channels", lambda v: v in (1, 3), "must be 1 (grey) or 3 (RGB)"),
    Rule("data.val_fraction", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)"),
    Rule("data.test_fraction", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)"),
    Rule("data.fit", lambda v: v in ("resize", "pad"), "must be 'resize' or 'pad'", optional=True),
    *(
        Rule(f"data.{k}", lambda v: isinstance(v, bool), "must be true or false", optional=True)
        for k in ("in_memory", "cache", "skip_corrupt", "verify", "download")
    ),
    Rule("data.num_workers", lambda v: _integer(v) and v >= 0, "must be an integer >= 0", optional=True),
    Rule(
        "data.split", lambda v: v in (1, 2, 3), "must be 1, 2 or 3 (a split of datasplits.mat)", optional=True
    ),
    Rule(
        "data.eval_batch_size",
        lambda v: v is None or (_integer(v) and v >= 1),
        "must be null or an integer >= 1",
        optional=True,
    ),
    Rule(
        "data.device",
        lambda v: isinstance(v, str) and (v in ("auto", "cpu") or v.startswith(("cuda", "mps"))),
        "must be auto, cpu or a device such as cuda:0",
        optional=True,
    ),
    Rule("optimizer.lr", lambda v: _number(v) and v > 0, "must be a number > 0, e.g. optimizer.lr=0.001"),
    Rule("optimizer.weight_decay", lambda v: _number(v) and v >= 0, "must be a number >= 0", optional=True),
    Rule(
        "optimizer.momentum", lambda v: _number(v) and 0 <= v < 1, "must be a number in [0, 1)", optional=True
    ),
    Rule("scheduler.interval", lambda v: v in ("epoch", "step"), "must be 'epoch' or 'step'"),
    Rule("trainer.max_epochs", lambda v: _integer(v) and v >= 1, "must be an integer >= 1"),
    Rule(
        "trainer.precision",
        lambda v: str(v) in PRECISIONS,
        f"must be one of Lightning's precisions: {', '.join(PRECISIONS)}",
        optional=True,
    ),
    Rule(
        "trainer.devices",
        lambda v: v == "auto" or (_integer(v) and (v >= 1 or v == -1)) or isinstance(v, list | str),
        "must be 'auto', -1, a positive integer or a list of device indices",
    ),
    *NET_RULES,
    *KEY_RULES,
    *RUN_RULES,
    Rule(
        "logger.wandb.mode",
        lambda v: v in ("auto", "online", "offline", "disabled"),
        "must be auto, online, offline or disabled",
        optional=True,
    ),
)


def validate(cfg: DictConfig) -> None:
    """Check types, ranges and the model's geometry; raise :class:`ConfigError` naming the key.

    Every callable the config names is checked against the allowlist first (``config/targets.py``).
    A refused key whose value comes from another (``image_size: ${model.input_size}``) names that one too.
    """
    try:
        _validate(cfg)
    except ConfigError as error:
        source = _interpolation(cfg, error.key)
        if source is None:
            raise
        raise ConfigError(error.key, f"{str(error).split(': ', 1)[1]} ({error.key} is {source})") from None


def _interpolation(cfg: DictConfig, key: str) -> str | None:
    """``${model.input_size}`` where ``key``'s value is an interpolation, else None."""
    parent, _, leaf = key.rpartition(".")
    try:
        node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
        child = node._get_node(leaf) if isinstance(node, DictConfig) and leaf in node else None
    except Exception:  # a parent that cannot be resolved
        return None
    return str(child._value()) if child is not None and child._is_interpolation() else None


def _validate(cfg: DictConfig) -> None:
    check_targets(cfg)
    if OmegaConf.select(cfg, "hydra.job.name", default=None) is not None:
        check_job_name(cfg.hydra.job.name)
    class_folders = OmegaConf.select(cfg, "data.class_folders", default=None)
    if class_folders is not None:  # before data.num_classes, which the folders' count may fill in
        check_image_folder(class_folders, _count_or_folders(cfg))
        check_image_files(class_folders, OmegaConf.select(cfg, "data.skip_corrupt", default=False) is True)
    for rule in RULES:
        try:
            value = OmegaConf.select(cfg, rule.key, default=MISSING, throw_on_missing=True)
        except Exception as error:  # an interpolation that cannot resolve
            raise ConfigError(rule.key, f"cannot be resolved ({_one_line(error)})") from None
        if isinstance(value, DictConfig | ListConfig):
            value = OmegaConf.to_container(value, resolve=True)
        if value is MISSING:
            if rule.optional:
                continue
            raise ConfigError(rule.key, f"is missing; it {rule.requirement}")
        if not rule.check(value):
            raise ConfigError(rule.key, f"{rule.requirement}; got {value!r} ({type(value).__name__})")
    try:
        augment = OmegaConf.select(cfg, "data.augment", default=None)
        augment = (
            OmegaConf.to_container(augment, resolve=True) if isinstance(augment, DictConfig) else augment
        )
    except Exception as error:  # an interpolation that cannot resolve
        raise ConfigError("data.augment", f"cannot be resolved ({_one_line(error)})") from None
    if augment is not None:
        check_augment(augment)
    check_probes(cfg)
    held_out = cfg.data.val_fraction + cfg.data.test_fraction
    if held_out >= 1:
        raise ConfigError(
            "data.val_fraction",
            f"val_fraction + test_fraction = {held_out:g} leaves no training data; keep their sum below 1",
        )
    learned = OmegaConf.select(cfg, f"pooling.{LEARNED}", default=False) is True
    if learned and OmegaConf.select(cfg, "model.net._target_", default=None) in SUBSAMPLING_BUILDERS:
        raise ConfigError("pooling", LEARNED_IN_SUBSAMPLING)
    layers = model_layers(cfg)
    if layers is None:
        return
    layers = as_built(layers, OmegaConf.select(cfg, f"pooling.{KEEPS_SIZE}", default=False) is True)
    try:
        sizes = feature_sizes(layers, cfg.image_size, cfg.padding.size)
    except GeometryError as error:
        raise ConfigError("image_size", f"model={cfg.model.name}: {error}") from None
    check_memory(layers, sizes, cfg.image_size, cfg.data.channels, cfg.data.batch_size, cfg.padding.size)


def _count_or_folders(cfg: DictConfig) -> object:
    """``data.num_classes`` as given; where it is the folders' own count, that count."""
    node = cfg.data._get_node("num_classes")
    if node is not None and node._is_interpolation():
        return None
    return cfg.data.num_classes


def model_layers(cfg: DictConfig) -> tuple[Layer, ...] | None:
    """The model's plain-Python layer list, ``model.features`` instantiated (``None``: the model has none).

    A model without ``features`` (an outside network) gets no geometry check before torch loads.
    """
    from hydra.errors import HydraException
    from hydra.utils import instantiate

    try:
        node = OmegaConf.select(cfg, "model.features", default=None, throw_on_missing=True)
    except Exception as error:  # an interpolation that cannot resolve
        raise ConfigError("model.features", f"cannot be resolved ({_one_line(error)})") from None
    if node is None:
        return None
    try:
        layers = instantiate(node) if isinstance(node, DictConfig | ListConfig) else node
    except (HydraException, ImportError, AttributeError, TypeError, ValueError) as error:
        while isinstance(error, HydraException) and error.__cause__ is not None:
            error = error.__cause__  # Hydra wraps the error that says what is wrong
        raise ConfigError("model.features", f"cannot be loaded ({' '.join(str(error).split())})") from None
    if isinstance(layers, Sequence) and layers and all(isinstance(layer, Conv | Pool) for layer in layers):
        return tuple(layers)
    raise ConfigError(
        "model.features",
        "must give a non-empty sequence of experiments.models.geometry.Conv and Pool layers, e.g. "
        "{_target_: hydra.utils.get_object, path: experiments.models.architectures.LENET5}; "
        f"got {_short(layers)}",
    )


def _one_line(error: Exception) -> str:
    """OmegaConf's message without its ``full_key:``/``object_type=`` lines."""
    return " ".join(str(error).split("\n", 1)[0].split())


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
