"""Sessions: ``nox -s tests`` (the whole suite), ``nox -s lint``, ``nox -s bench`` (benchmarks), ``nox -s profile``,
``nox -s ray`` (the Ray launcher on a real local Ray)."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "venv"
SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
# benchmarks/results/<name>.{json,md} <- the sweep profiled (docs/benchmarks.md section 9)
PROFILED_SWEEPS = {
    "sweep_profile": ["pooling=max,avg,min,lp", "seed=0,1"],
    "sweep_profile_mnist": ["data=mnist", "trainer.max_epochs=1", "seed=0,1,2"],
}


def _data_env() -> dict[str, str]:
    if "EXPERIMENTS_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
        return {"EXPERIMENTS_DATA_DIR": str(SHARED_DATA)}
    return {}


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs, env={"WANDB_MODE": "offline", **_data_env()})


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Every benchmark in benchmarks/, in one process (``-- --quick`` for the short CI-sized variant,
    ``-- --only overhead keras`` for some of them)."""
    session.install("-e", ".[dev,bench]")
    session.run("python", "benchmarks/run_all.py", *session.posargs, env=_data_env())


@nox.session(python="3.11")
def profile(session: nox.Session) -> None:
    """Where a sweep's wall time goes (benchmarks/profile_sweep.py): the two sweeps of docs/benchmarks.md section 9."""
    session.install("-e", ".[dev,bench]")
    for name, sweep in PROFILED_SWEEPS.items():
        session.run("python", "benchmarks/profile_sweep.py", "--name", name, "-m", *sweep, env=_data_env())


@nox.session(python="3.11")
def ray(session: nox.Session) -> None:
    """``hydra/launcher=ray`` against a real local Ray (tests/test_ray_launcher.py, and the README's Ray command
    as a dry run), in a venv of its own: the extra ``ray`` pins cloudpickle 2.2.1, so it is not part of ``dev``.
    torch first, pinned (pip takes it from this machine's disk where it lies there), so that nothing after it
    pulls a newer one."""
    session.install("torch==2.14.1", "torchvision==0.29.1")
    session.install("-e", ".[dev,ray]")
    session.run(
        "pytest", "-m", "ray", "tests/test_ray_launcher.py", "tests/test_readme.py", *session.posargs,
        env={"WANDB_MODE": "offline", **_data_env()},
    )  # fmt: skip
