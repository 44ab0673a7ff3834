"""Every command in the README runs as written: nothing in it goes stale.

Training examples run for one batch (``debug=fast_dev_run``), sweeps as a dry run that composes and checks
every job, Hydra's flags and ``experiments layers`` as they are; the ``$ command`` blocks must print
exactly the lines shown under them.
"""

from __future__ import annotations

import os
import re
import shlex
from importlib.util import find_spec

import pytest

from .conftest import REPO, run_cli

pytestmark = pytest.mark.slow
README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```(?:bash)?\n(.*?)```", README, re.S)
COMMAND = re.compile(r"^(?:\$ )?(python -m experiments(?:\.compare)?|experiments)\b(.*?)(?:\s+#.*)?$")


def readme_commands() -> list[tuple[str, list[str], str | None]]:
    """``(line, args, expected output)`` for every experiments command in a code block."""
    found = []
    for block in BLOCKS:
        lines = block.splitlines()
        for number, line in enumerate(lines):
            match = COMMAND.match(line.strip())
            if not match or "pip install" in line:
                continue
            program, rest = match.groups()
            args = shlex.split(rest)
            if program == "python -m experiments.compare":
                args = ["compare", *args]
            expected = None
            if line.startswith("$ "):
                expected = "\n".join(lines[number + 1 :]).split("\n$ ")[0].strip()
            found.append((line.strip(), args, expected))
    return found


COMMANDS = readme_commands()
NEEDS_DATA = ("data=mnist", "data=flowers17")


def test_the_readme_has_examples():
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize(
    ("line", "args", "expected"),
    [
        pytest.param(*c, id=c[0][:70], marks=[pytest.mark.ray] if "hydra/launcher=ray" in c[1] else [])
        for c in COMMANDS
    ],
)
def test_readme_command_runs(tmp_path, line, args, expected, data_dir_or_none):
    if any(a in NEEDS_DATA for a in args) and data_dir_or_none is None:
        pytest.skip("needs EXPERIMENTS_DATA_DIR (real MNIST / flowers17)")
    if "hydra/launcher=ray" in args and find_spec("ray") is None:
        pytest.skip("needs the extra ray (a venv of its own; tests/test_ray_launcher.py, nox -s ray)")
    if args[:1] == ["compare"]:
        sweep = tmp_path / "outputs" / "multirun" / "day" / "time"
        made = run_cli("-m", "seed=0,1", "trainer.max_epochs=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
        assert made.returncode == 0, made.stderr[-2000:]
        args = [a.replace("outputs/multirun/<date>/<time>", str(sweep)) for a in args]
    elif args[:1] == ["test"]:  # experiments test: a saved run to evaluate
        run = tmp_path / "outputs" / "runs" / "day" / "time"
        made = run_cli("trainer.max_epochs=1", "+trainer.limit_train_batches=3", f"hydra.run.dir={run}", cwd=tmp_path)
        assert made.returncode == 0, made.stderr[-2000:]
        args = [a.replace("outputs/runs/<date>/<time>", str(run)) for a in args]
    elif expected is not None:
        pass  # a bad-input demonstration: run as written
    elif "-m" in args:
        args = [*args, "sweep.dry_run=true"]
    elif any(a.startswith("hparams_search=") for a in args):
        args = [
            *[a for a in args if not a.startswith("hydra.sweeper.n_trials")],
            "hydra.sweeper.n_trials=2",
            "trainer.max_epochs=1",
        ]
    elif not any(a.startswith("-") for a in args) and args[:1] != ["layers"]:
        args = [*args, "debug=fast_dev_run"]
    result = run_cli(*args, cwd=tmp_path, timeout=900)
    if expected is not None:
        assert result.returncode == 2 and (result.stdout + result.stderr).strip() == expected
        return
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"


@pytest.fixture
def data_dir_or_none():
    return os.environ.get("EXPERIMENTS_DATA_DIR") or None


@pytest.mark.parametrize("group", ["experiment", "model", "data", "optimizer", "scheduler"])
def test_the_readme_lists_every_option_of(group):
    row = next(line for line in README.splitlines() if line.startswith(f"| `{group}` |"))
    listed = set(re.findall(r"`([a-z0-9_]+)`", row.split("|")[2]))
    options = {p.stem for p in (REPO / "conf" / group).glob("*.yaml")}
    assert options <= listed, f"README's {group} row lacks {sorted(options - listed)}"
