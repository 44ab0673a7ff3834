"""Issue #26: any value for any key is accepted or refused as one line naming that key, never a traceback.

Overrides are generated for every leaf of the composed default config (and every config group, and
``data.augment``'s options): wrong types, extremes, non-finite numbers, unicode, lists, mappings, empty
sweeps. Each goes through the CLI's own checks in process (override syntax, compose, validate): it
passes, or raises :class:`ConfigError` whose line names the key. A few go through the real CLI as a
``-m ... sweep.dry_run=true`` (nothing trains): exit 0 or 2, no traceback, no run or sweep dir.
"""

from __future__ import annotations

import math
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig

from experiments.config import ConfigError, compose, config_groups
from experiments.config.compose import check_override_syntax, open_mapping_overrides
from experiments.config.limits import AUGMENT

from .conftest import run_cli

CI = os.environ.get("CI") == "true"
EXAMPLES = int(os.environ.get("TRUST_FUZZ_EXAMPLES", "150" if CI else "300"))  # more for a longer hunt


def leaves(node: DictConfig, prefix: str = "") -> list[str]:
    """Every leaf key of ``node`` as a dotted path (interpolations unresolved; a mapping's own key too)."""
    keys = []
    for key in node:
        path = f"{prefix}{key}"
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_interpolation() and not child._is_none():
            keys.extend(leaves(child, f"{path}.") if len(child) else [path])
        else:
            keys.append(path)
    return keys


DEFAULT = compose(["paths.output_dir=x"], validated=False)
KEYS = sorted(
    {*leaves(DEFAULT), *(f"data.augment.{name}" for name in AUGMENT), *config_groups()} - {"paths.output_dir"}
)
KEYS = [k for k in KEYS if not k.startswith("hydra")]

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**32 - 1, 2**32, 2**63, -(2**63), 10**6, 10**12]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
WORDS = st.one_of(
    st.sampled_from(
        ["maybe", "yes", "no", "true", "false", "null", "", "auto", "none", "NaN", "-inf", "1e999"]
    ),
    st.text(alphabet=string.ascii_letters + string.digits + "_-.", max_size=12),
    st.text(max_size=8),  # any unicode, Hydra's lexer included
)


def scalar_text(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(value).lower() if isinstance(value, bool) else str(value)


VALUES = st.one_of(
    NUMBERS.map(scalar_text),
    WORDS,
    st.booleans().map(scalar_text),
    st.lists(NUMBERS.map(scalar_text), max_size=3).map(lambda xs: f"[{','.join(xs)}]"),
    st.sampled_from(
        ["[]", "{}", "{a: 1}", "[[1]]", "choice()", "range(0)", "'quoted'", "${seed}", "${nope}"]
    ),
)


def check(overrides: list[str]) -> None:
    """What the CLI does with a command line before it writes anything (``cli/train.py``)."""
    argv = open_mapping_overrides(overrides)
    check_override_syntax(argv)
    compose(argv)


def names_the_key(error: ConfigError, key: str) -> bool:
    line = f"{error.key}: {error}"
    related = key == error.key or key.startswith(f"{error.key}.") or error.key.startswith(f"{key}.")
    return "\n" not in str(error) and (related or key in line)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=CI,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_value_for_any_key_is_accepted_or_refused_naming_the_key(key, value):
    override = f"{key}={value}"
    try:
        check([override, "paths.output_dir=x"])
    except ConfigError as error:
        assert names_the_key(error, key), (override, str(error))


@settings(max_examples=60 if CI else 120, deadline=None, derandomize=CI)
@given(key=st.sampled_from(KEYS))
def test_an_empty_sweep_names_its_key(key):
    for value in ("choice()", "range(0)"):
        with pytest.raises(ConfigError) as refused:
            check([f"{key}={value}"])
        assert refused.value.key == key, str(refused.value)


CLI_CASES = [
    "optimizer.lr=inf",
    "seed=4294967296",
    "data.augment.hflip=maybe",
    "pooling=méd",
    "seed=choice()",
    "image_size=1000000",
    "trainer.max_epochs=[1,2]",
    "data.batch_size=1e999",
    "seed=1,2",
]


@pytest.mark.parametrize("override", CLI_CASES)
def test_the_real_cli_on_a_dry_run_sweep_never_shows_a_traceback_nor_leaves_a_dir(tmp_path, override):
    result = run_cli("-m", override, "sweep.dry_run=true", cwd=tmp_path)
    assert result.returncode in (0, 2), result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    if result.returncode == 2:
        key = override.split("=", 1)[0]
        assert key in result.stderr + result.stdout
    assert not [p for p in Path(tmp_path).rglob("*") if p.is_file()], "a refused or dry run wrote files"
