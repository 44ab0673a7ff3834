"""Which callables a config may name: every ``_target_`` is checked against an allowlist before anything is built.

A config is untrusted input: a run dir's ``.hydra/overrides.yaml`` is replayed by ``resume=``, and a
``_target_`` can name any callable (``builtins.open`` empties a file). So every ``_target_``, every
``path`` that ``hydra.utils.get_object`` resolves, and the logging factories (``()``, ``class``) must name
an object under one of :data:`ALLOWED`, a callable that the config tree itself names (the YAML files of
``conf/`` or of the conf dir being composed: a new option is one YAML file, ``docs/architecture.md``), or
under a prefix the user allows in the environment: ``EXPERIMENTS_ALLOWED_TARGETS=mypkg.,otherpkg.models``
(comma-separated; never read from a replayed run dir). Checked as text, without importing anything (no torch).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from experiments.config.conf_dir import config_dir
from experiments.config.errors import ConfigError

ENV = "EXPERIMENTS_ALLOWED_TARGETS"
#: Module prefixes whose callables a config may name (``a.b.`` matches ``a.b.C``, not ``a.bc``).
ALLOWED = (
    "experiments.",
    "torch.nn.",
    "torch.optim.",
    "torchvision.transforms.",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.callbacks.",
    "pytorch_lightning.loggers.",
    "lightning.pytorch.callbacks.",
    "optuna.samplers.",
    "optuna.pruners.",
    "hydra_plugins.",
    "hydra._internal.core_plugins.",
    "functools.partial",
)
#: What a logging config's ``()`` and ``class`` may name (``hydra.job_logging``: only from the command line).
LOGGING = ("experiments.", "logging.")
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


_conf_dirs: set[str] = set()  # conf dirs composed from in this process (hydra_session)
NAMED = re.compile(r"""(_target_|path|\(\)|class):\s*['"]?([A-Za-z_][\w.]*)""")


def trust_config_dir(root: str | Path) -> None:
    """The callables that ``root``'s YAML files name are allowed (a conf dir is the project's own code)."""
    _conf_dirs.add(str(Path(root).resolve()))


@functools.cache
def _named_in(root: str, logging: bool) -> frozenset[str]:
    kinds = ("()", "class") if logging else ("_target_", "path")
    found: set[str] = set()
    for path in Path(root).rglob("*.yaml"):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        found.update(name for kind, name in NAMED.findall(text) if kind in kinds)
    return frozenset(found)


def conf_targets(logging: bool = False) -> frozenset[str]:
    """Every dotted name that a trusted conf dir's YAML files give as a target or ``path`` (``logging``:
    as a logging ``()`` or ``class``)."""
    roots = {str(config_dir().resolve()), *_conf_dirs}
    try:  # a job that Hydra composed itself (``-cd DIR``): its config sources
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            roots.update(s.path for s in HydraConfig.get().runtime.config_sources if s.schema == "file")
    except Exception:
        pass
    return frozenset().union(*(_named_in(root, logging) for root in sorted(roots)))


def allowed_prefixes() -> tuple[str, ...]:
    """:data:`ALLOWED` plus the user's own prefixes from ``$EXPERIMENTS_ALLOWED_TARGETS``."""
    extra = (p.strip() for p in os.environ.get(ENV, "").split(","))
    return (*ALLOWED, *(p for p in extra if p))


def target_problem(
    target: Any, prefixes: tuple[str, ...] | None = None, named: frozenset[str] = frozenset()
) -> str | None:
    """Why ``target`` (a dotted path) may not be called, or None where it may (``named``: the conf tree's own)."""
    prefixes = allowed_prefixes() if prefixes is None else prefixes
    text = str(target)
    if text in named:
        return None
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
    prefixes, named = allowed_prefixes(), conf_targets()
    mine = tuple(p for p in prefixes if p not in ALLOWED)
    for key, target in _targets(cfg, ""):
        if key.endswith(("()", ".class")):
            problem = target_problem(target, (*LOGGING, *mine), conf_targets(logging=True))
        else:
            problem = target_problem(target, prefixes, named)
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
