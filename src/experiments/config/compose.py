"""The one way to compose a config: ``conf/`` plus overrides, with Hydra's errors as one-line ConfigErrors.

The CLI, ``experiments layers``, the sweep's up-front check and the tests all compose through
:func:`compose`; no torch is imported.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from experiments.config.conf_dir import config_dir
from experiments.config.errors import ConfigError

if TYPE_CHECKING:
    from hydra._internal.hydra import Hydra

CONFIG_NAME = "config"


@contextmanager
def hydra_session(root: Path | None = None) -> Iterator[Hydra]:
    """A Hydra instance on ``root`` (default :func:`config_dir`), cleared again on exit."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from experiments.config.targets import trust_config_dir

    trust_config_dir(root or config_dir())
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(
            config_dir=str(root or config_dir()), version_base="1.3", job_name="experiments"
        ):
            yield GlobalHydra.instance().hydra
    finally:
        GlobalHydra.instance().clear()


def compose(
    overrides: Sequence[str] = (),
    *,
    hydra_config: bool = False,
    validated: bool = True,
    root: Path | None = None,
) -> DictConfig:
    """Compose ``conf/config.yaml`` with ``overrides`` (``hydra.*`` ones too with ``hydra_config``).

    Raises :class:`ConfigError` for an unknown group option, key or bad YAML and, with ``validated``,
    for any value that :func:`experiments.config.validate` refuses.
    """
    with hydra_session(root) as hydra:
        cfg = compose_in(hydra, overrides, hydra_config=hydra_config)
    if validated:
        from experiments.config.rules import validate

        validate(cfg)
    return cfg


def compose_in(
    hydra: Hydra,
    overrides: Sequence[str],
    *,
    hydra_config: bool = False,
    with_log_configuration: bool = False,
    multirun: bool = False,
) -> DictConfig:
    """Compose inside an open :func:`hydra_session` (a run keeps Hydra's node to start the job from it).

    ``multirun``: compose a sweep's own config (sweep overrides such as ``a=1,2`` allowed).
    """
    import yaml
    from hydra.errors import HydraException
    from hydra.types import RunMode
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    overrides = open_mapping_overrides(overrides)
    wanted = list(overrides) if hydra_config else [o for o in overrides if not o.startswith("hydra.")]
    try:
        cfg = hydra.compose_config(
            config_name=CONFIG_NAME,
            overrides=wanted,
            run_mode=RunMode.MULTIRUN if multirun else RunMode.RUN,
            from_shell=True,
            with_log_configuration=with_log_configuration,
        )
    except (HydraException, OmegaConfBaseException) as error:
        problem = explain(str(error))
        if problem.key in _override_keys(wanted) and "Could not override" in str(error):
            raise unknown_key(hydra, wanted, problem.key) from None
        raise problem from None
    except yaml.YAMLError as error:  # a hand-edited config file that is not valid YAML
        raise ConfigError("config files", f"not valid YAML: {' '.join(str(error).split())}") from None
    if not hydra_config:
        with open_dict(cfg):
            del cfg["hydra"]
    else:
        from experiments.config.limits import check_job_name

        check_job_name(cfg.hydra.job.name)  # a sweep's too: its log file must stay in the job's dir
    return cfg


#: Option mappings whose keys are ours to check (config rules), not the YAML's: a dataset's ``augment: {}``
#: takes ``data.augment.translate=2`` and ``data.augment={translate: 2}`` as it takes an existing key.
OPEN_MAPPINGS = ("data.augment",)


def open_mapping_overrides(overrides: Sequence[str]) -> list[str]:
    """Plain overrides of an :data:`OPEN_MAPPINGS` key, as Hydra's add-or-override (``++``) form.

    Hydra's struct mode refuses a key the YAML lacks; these keys are validated against their own
    option list after composition instead (``data.augment: must be a mapping with keys from ...``).
    """
    rewritten = []
    for override in overrides:
        key = override.split("=", 1)[0]
        if "=" in override and any(key == m or key.startswith(f"{m}.") for m in OPEN_MAPPINGS):
            override = f"++{override}"
        rewritten.append(override)
    return rewritten


def _override_keys(overrides: Sequence[str]) -> dict[str, str]:
    """``{"trainer.max_epoch": "3"}`` for ``trainer.max_epoch=3`` (``+``/``~`` prefixes dropped)."""
    pairs = (o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    return {key: value for key, value in pairs}


def unknown_key(hydra: Hydra, overrides: Sequence[str], key: str) -> ConfigError:
    """A key that no config has: the nearest real keys, from the config composed without it.

    Hydra's own advice (append it with ``+``) is left out on purpose: a ``+`` key is ignored by the
    builders, or reaches a constructor that does not take it and fails after the run dir exists.
    """
    from experiments.config.suggest import nearest_keys

    value = _override_keys(overrides)[key]
    rest = [o for o in overrides if o.lstrip("+~").split("=", 1)[0] != key]
    try:
        near = nearest_keys(compose_in(hydra, rest, hydra_config=True), key)
    except ConfigError:
        near = []
    if not near:
        return ConfigError(key, "no such key in the config; `experiments --cfg job` prints every key")
    return ConfigError(key, f"no such key; did you mean {' or '.join(f'{k}={value}' for k in near)}?")


def explain(message: str) -> ConfigError:
    """Hydra's composition error as one line naming the key: ``pooling: no option 'foo'; choose one of ...``."""
    missing = re.search(r"Could not find '([\w/]+)/([^']*)'", message)
    options = re.search(r"Available options in '[^']+':\s*(.*?)\s*Config search path", message, re.S)
    if missing:
        group, option = missing.groups()
        choices = ", ".join(options.group(1).split()) if options else "see conf/" + group
        return ConfigError(group.replace("/", "."), f"no option '{option}'; choose one of {choices}")
    key = re.search(r"Could not override '([^']+)'", message)
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    lines = lines[
        : next((i for i, line in enumerate(lines) if line.startswith("Config search path")), len(lines))
    ]
    return ConfigError(key.group(1) if key else "overrides", " ".join(lines))


def config_groups(root: Path | None = None) -> dict[str, list[str]]:
    """Every config group under ``root`` (``hydra/launcher`` too) and its options, from the YAML files.

    A folder whose files are not config options (``wandb_sweep/``: W&B sweep files) is left out.
    """
    root = root or config_dir()
    groups: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.yaml")):
        folder = path.parent.relative_to(root).as_posix()
        if path.parent != root and folder not in NOT_GROUPS:
            groups.setdefault(folder, []).append(path.stem)
    return groups


# Folders of conf/ that hold other files than config options.
NOT_GROUPS = frozenset({"wandb_sweep"})
# Groups that take a list of options, each merged in (``probes=[shift,consistency]``).
LIST_GROUPS = frozenset({"probes"})


def check_options(group: str, value: list[object]) -> None:
    """Each item of a list group's override is one of its options."""
    options = config_groups()[group]
    for item in value:
        if not isinstance(item, str) or item not in options:
            raise ConfigError(group, f"no option {item!r}; choose from {', '.join(options)}")


def check_override_syntax(overrides: Sequence[str]) -> None:
    """Each override parses (Hydra's grammar), else one line naming its key: a bad group option lists the
    options, a bad key name the nearest keys, an empty sweep (``seed=choice()``) says so."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for override in overrides:
        if override.startswith("-") or "=" not in override:
            continue
        try:
            parsed = parser.parse_overrides([override])
        except HydraException as error:
            raise _syntax_error(override, str(error)) from None
        for item in parsed:
            if item.is_sweep_override() and not list(item.sweep_string_iterator()):
                raise ConfigError(item.key_or_group, "an empty sweep; list at least one value")
            group, value = item.key_or_group, None if item.is_sweep_override() else item.value()
            if group in LIST_GROUPS and isinstance(value, list) and not item.is_delete():
                check_options(group, value)
                continue
            if (
                group in config_groups()
                and not item.is_delete()
                and not item.is_sweep_override()
                and (not isinstance(value, str) or "${" in value)
            ):
                raise ConfigError(
                    group, f"takes one option; choose one of {', '.join(config_groups()[group])}"
                )


def _syntax_error(override: str, message: str) -> ConfigError:
    key, value = override.lstrip("+~").split("=", 1)
    groups = config_groups()
    if not re.fullmatch(r"[\w./@-]+", key, re.ASCII):
        near = difflib.get_close_matches(key, [*groups, *_TOP_KEYS], n=3, cutoff=0.5)
        also = f"; did you mean {' or '.join(near)}?" if near else ""
        name = key if key.isprintable() else repr(key)
        return ConfigError(name, f"is not a key name (ASCII letters, digits, _ . / only){also}")
    if key in groups:
        return ConfigError(key, f"no option {value!r}; choose one of {', '.join(groups[key])}")
    if "empty choice" in message or "empty" in message.lower():
        return ConfigError(key, "an empty sweep; list at least one value")
    detail = " ".join(line.strip() for line in message.splitlines()[1:2] if line.strip())
    return ConfigError(
        key,
        f"cannot parse {value!r} ({detail or 'Hydra override grammar'}); put the value in quotes"
        + (f", e.g. {key}='\"{value}\"'" if value.isprintable() else ""),
    )


_TOP_KEYS = ("seed", "deterministic", "threads", "channels_last", "compile", "plots", "image_size", "resume")
