"""Which callables a config may name: every ``_target_`` is checked against an allowlist before anything is built.

A config is untrusted input: a run dir's ``.hydra/overrides.yaml`` is replayed by ``resume=``, and a
``_target_`` can name any callable (``builtins.open`` empties a file). So every ``_target_``, every
``path`` that ``hydra.utils.get_object`` resolves, and the logging factories (``()``, ``class``) must name
an object under one of :data:`ALLOWED`, or under a prefix the user allows on the command line's
environment: ``EXPERIMENTS_ALLOWED_TARGETS=mypkg.,otherpkg.models`` (comma-separated; never read from a
replayed run dir). Checked as text, without importing anything (no torch).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from experiments.config.errors import ConfigError

ENV = "EXPERIMENTS_ALLOWED_TARGETS"
#: Module prefixes whose callables a config may name (``a.b.`` matches ``a.b.C``, not ``a.bc``).
ALLOWED = (
    "experiments.",
    "torch.nn.",
    "torch.optim.",
    "torchvision.transforms.",
    "pytorch_lightning.",
    "lightning.pytorch.",
    "optuna.samplers.",
    "optuna.pruners.",
    "hydra_plugins.",
    "hydra._internal.core_plugins.",
    "logging.",
    "functools.partial",
)
#: Callables that resolve another dotted path: allowed only when that path is allowed too.
RESOLVERS = ("hydra.utils.get_object", "hydra.utils.get_class", "hydra.utils.get_method")
#: Names that reach outside an allowed module (``torch.nn.modules.module.os.system``), refused anywhere in a path.
ESCAPES = frozenset(
    {"os", "sys", "builtins", "subprocess", "shutil", "importlib", "pickle", "io", "pathlib", "socket"}
    | {"ctypes", "runpy", "code", "codecs", "marshal", "tempfile", "posix", "nt", "eval", "exec", "open"}
    | {
        "compile",
        "getattr",
        "setattr",
        "system",
        "popen",
        "spawn",
        "torch",
        "hydra",
        "omegaconf",
        "functools",
    }
)
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
LOGGING_NODES = ("hydra.job_logging", "hydra.hydra_logging")


def allowed_prefixes() -> tuple[str, ...]:
    """:data:`ALLOWED` plus the user's own prefixes from ``$EXPERIMENTS_ALLOWED_TARGETS``."""
    extra = (p.strip() for p in os.environ.get(ENV, "").split(","))
    return (*ALLOWED, *(p for p in extra if p))


def target_problem(target: Any, prefixes: tuple[str, ...] | None = None) -> str | None:
    """Why ``target`` (a dotted path) may not be called, or None where it may."""
    prefixes = allowed_prefixes() if prefixes is None else prefixes
    text = str(target)
    if not DOTTED.fullmatch(text):
        return f"{text!r} is not a dotted path such as experiments.models.lenet.lenet5"
    parts = text.split(".")
    if any(part.startswith("__") for part in parts):
        return f"{text} names a private attribute"
    if text in RESOLVERS:
        return None
    for prefix in prefixes:
        if text == prefix.rstrip(".") or (prefix.endswith(".") and text.startswith(prefix)):
            rest = text[len(prefix) :].split(".") if prefix.endswith(".") else []
            if ESCAPES & set(rest):
                return (
                    f"{text} reaches outside {prefix.rstrip('.')} (through {sorted(ESCAPES & set(rest))[0]})"
                )
            return None
    return (
        f"{text} is not an allowed target; configs may only name callables under "
        f"{', '.join(p.rstrip('.') for p in prefixes)} (allow your own package with {ENV}=mypkg.)"
    )


def check_targets(cfg: DictConfig | ListConfig) -> None:
    """Refuse (ConfigError naming the key) any ``_target_``, resolved ``path``, ``()`` or logging ``class``
    that is not allowed. Values are read unresolved: an interpolation is refused, not followed."""
    prefixes = allowed_prefixes()
    for key, target in _targets(cfg, ""):
        problem = target_problem(target, prefixes)
        if problem is not None:
            raise ConfigError(key, problem)


def _targets(node: Any, at: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, DictConfig):
        if node._is_missing() or node._is_none():
            return
        target = _raw(node, "_target_")
        if target is not None:
            yield f"{at}._target_".lstrip("."), target
            if str(target) in RESOLVERS:
                yield f"{at}.path".lstrip("."), _raw(node, "path")
        logging = any(at == n or at.startswith(f"{n}.") for n in LOGGING_NODES)
        for name in ("()", "class") if logging else ("()",):
            if _raw(node, name) is not None:
                yield f"{at}.{name}".lstrip("."), _raw(node, name)
        for key in node:
            if key == "_target_":
                continue
            yield from _targets(node._get_node(key), f"{at}.{key}".lstrip("."))
    elif isinstance(node, ListConfig):
        if node._is_missing() or node._is_none():
            return
        for index in range(len(node)):
            yield from _targets(node._get_node(index), f"{at}[{index}]")


def _raw(node: DictConfig, key: str) -> Any:
    """The unresolved value of ``node[key]`` (an interpolation as its text), or None."""
    child = node._get_node(key) if key in node else None
    if child is None:
        return None
    if isinstance(child, DictConfig | ListConfig):
        return OmegaConf.to_container(child, resolve=False)
    value = child._value()
    return None if value is None else value
