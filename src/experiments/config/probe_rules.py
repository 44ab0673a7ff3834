"""``probes``: which probes run after the test and their settings, checked before torch loads.

The names are the files of ``conf/probes/`` (less ``none``, ``all`` and ``cheap``, which select some);
``experiments.probes.runner.PROBES`` runs them (a test keeps the three lists equal).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from experiments.config.errors import ConfigError
from experiments.config.limits import finite, whole

MAX_PX = 64


def _numbers(check: Callable[[float], bool]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, list) and bool(v) and all(finite(x) and check(x) for x in v)


#: Each probe's settings: what each takes, as (check, requirement).
SETTINGS: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "shift": {
        "max_px": (lambda v: whole(v, 1) and v <= MAX_PX, f"an integer in [1, {MAX_PX}] (pixels)"),
        "directions": (lambda v: v in (4, 8), "4 (the axes) or 8 (and the diagonals)"),
        "circular": (lambda v: isinstance(v, bool), "true or false"),
    },
    "consistency": {
        "max_px": (lambda v: whole(v, 1) and v <= MAX_PX, f"an integer in [1, {MAX_PX}] (pixels)"),
        "seed": (lambda v: whole(v, 0) and v < 2**32, "an integer in [0, 2**32)"),
    },
    "rotation": {
        "degrees": (_numbers(lambda x: 0 < x <= 180), "a non-empty list of angles in (0, 180], e.g. [5, 15]"),
    },
    "scale": {
        "factors": (
            _numbers(lambda x: 0 < x <= 10),
            "a non-empty list of factors in (0, 10], e.g. [0.9, 1.1]",
        ),
    },
    "borders": {
        "widths": (
            lambda v: isinstance(v, list) and bool(v) and all(whole(x, 1) and x <= MAX_PX for x in v),
            f"a non-empty list of integers in [1, {MAX_PX}] (pixels), e.g. [1, 2, 4]",
        ),
        "threshold": (lambda v: finite(v) and 0 < v < 1, "a number in (0, 1)"),
    },
    "overfitting": {
        "train_images": (
            lambda v: v is None or whole(v, 1),
            "null (as many as the test images) or an integer >= 1",
        ),
        "bins": (lambda v: whole(v, 2) and v <= 1000, "an integer in [2, 1000]"),
    },
    "dead_units": {},
}
PROBES = tuple(SETTINGS)
CHOICE = "choose probes=none, probes=all, probes=cheap or a list such as probes=[shift,consistency]"


def probe_settings(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """The probes ``cfg`` selects, each with its settings (plain values; nothing checked)."""
    node = OmegaConf.select(cfg, "probes", default=None)
    if isinstance(node, DictConfig | ListConfig):
        node = OmegaConf.to_container(node, resolve=True)
    return node if isinstance(node, dict) else {}


def check_probes(cfg: DictConfig) -> None:
    """Refuse an unknown probe, an unknown setting, a bad value, and probes under multi-process DDP."""
    try:
        node = OmegaConf.select(cfg, "probes", default=None)
        probes = (
            OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig | ListConfig) else node
        )
    except Exception as error:  # an interpolation that cannot resolve
        raise ConfigError("probes", f"cannot be resolved ({' '.join(str(error).split())})") from None
    if probes is None:
        return
    if not isinstance(probes, dict):
        raise ConfigError("probes", f"must be the probes' settings; {CHOICE}; got {probes!r}")
    for name, settings in probes.items():
        if name not in SETTINGS:
            raise ConfigError(f"probes.{name}", f"is no probe; the probes are {', '.join(PROBES)}")
        check_settings(name, settings)
    if probes and multi_process(cfg):
        raise ConfigError(
            "probes", "run in one process: with trainer.strategy=ddp on several devices set probes=none "
            "(or test the run's checkpoint with experiments test)"
        )  # fmt: skip


def check_settings(name: str, settings: Any) -> None:
    """One probe's settings: a mapping of its own keys, each value what the key takes."""
    if settings is None:
        return
    if not isinstance(settings, Mapping):
        raise ConfigError(f"probes.{name}", f"must be a mapping of settings; got {settings!r}")
    allowed = SETTINGS[name]
    for key, value in settings.items():
        if key not in allowed:
            takes = ", ".join(allowed) or "no settings"
            raise ConfigError(f"probes.{name}.{key}", f"is no setting of the {name} probe; it takes {takes}")
        check, requirement = allowed[key]
        if not check(value):
            raise ConfigError(f"probes.{name}.{key}", f"must be {requirement}; got {value!r}")


def multi_process(cfg: DictConfig) -> bool:
    """Whether the trainer runs several processes (a DDP strategy on more than one device)."""
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="auto") or "auto")
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    one = devices in (1, "1") or (isinstance(devices, list) and len(devices) == 1)
    num_nodes = OmegaConf.select(cfg, "trainer.num_nodes", default=1)
    return strategy.startswith("ddp") and (not one or (isinstance(num_nodes, int) and num_nodes > 1))
