"""Find runs under paths: walk sweep dirs to their run dirs, else read W&B logs, else an earlier report's
``runs.csv`` (the file, or a report dir holding one), else ask the W&B API; every source yields
:class:`~experiments.records.run_record.RunRecord`s."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from experiments.comparison.sources.report_csv import read_report_csv, report_csv_in
from experiments.comparison.sources.run_dirs import is_run_dir, read_run_dir
from experiments.comparison.sources.wandb_api import read_wandb_project
from experiments.comparison.sources.wandb_logs import read_wandb_file, wandb_files
from experiments.records.run_record import RunRecord

#: Dirs that never hold runs of their own: skipped while walking a sweep.
SKIP_DIRS = {
    "checkpoints",
    "wandb",
    "tensorboard",
    "compare",
    "plots",
    ".hydra",
    "__pycache__",
    "lightning_logs",
}


def _walk(root: Path) -> Iterator[Path]:
    """Run dirs under ``root``, in job order (``2`` before ``10``); a run dir is not searched further."""
    if is_run_dir(root):
        yield root
        return
    try:
        children = [c for c in root.iterdir() if c.is_dir() and c.name not in SKIP_DIRS]
    except OSError:
        return
    for child in sorted(
        children, key=lambda c: (not c.name.isdigit(), int(c.name) if c.name.isdigit() else 0, c.name)
    ):
        yield from _walk(child)


def _report_csv(path: Path) -> Path | None:
    """The report ``runs.csv`` that ``path`` names: the file itself, or the ``runs.csv`` of a dir with no run
    dir and no W&B run file under it (a sweep's own runs always win over a report written from them)."""
    found = report_csv_in(path)
    if found is None or path.is_file():
        return found
    if next(_walk(path), None) is not None or wandb_files(path) or next(path.rglob("run-*.wandb"), None):
        return None
    return found


def collect(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Every run found under ``paths``; sweep and run dirs first, bare W&B runs where there is no run dir.

    A path that does not exist on disk and looks like ``entity/project[/group]`` (or starts with
    ``wandb:``) is read through ``wandb.Api`` where credentials exist. A compare report's ``runs.csv``, or a
    dir with no run dir and no W&B log under it but a ``runs.csv`` of a report, is read row by row
    (:mod:`~experiments.comparison.sources.report_csv`).
    """
    runs: list[RunRecord] = []
    seen: set[str] = set()
    for spec in paths:
        path = Path(spec)
        if not path.exists():
            if str(spec).startswith("wandb:") or str(spec).count("/") in (1, 2):
                from experiments.config.wandb_mode import wandb_credentials_exist

                if not wandb_credentials_exist():
                    raise FileNotFoundError(
                        f"{spec}: no such path, and no W&B credentials to read it as a W&B project "
                        "(set WANDB_API_KEY or run `wandb login`)"
                    )
                runs.extend(read_wandb_project(str(spec)))
                continue
            raise FileNotFoundError(f"{spec}: no such file or dir")
        report_csv = _report_csv(path)
        if report_csv is not None:
            key = str(report_csv.resolve())
            if key not in seen:
                seen.add(key)
                runs.extend(read_report_csv(report_csv))
            continue
        found_dirs = list(_walk(path)) if path.is_dir() else []
        for run_dir in found_dirs:
            key = str(run_dir.resolve())
            if key not in seen:
                seen.add(key)
                runs.append(read_run_dir(run_dir))
        if found_dirs:
            continue
        for wandb_file in wandb_files(path):
            key = str(wandb_file.resolve())
            if key not in seen:
                seen.add(key)
                runs.append(read_wandb_file(wandb_file))
        if path.is_dir() and not any(p for p in wandb_files(path)):
            for child in sorted(path.rglob("run-*.wandb")):
                key = str(child.resolve())
                if key not in seen and child.parent.name != "latest-run":
                    seen.add(key)
                    runs.append(read_wandb_file(child))
    return runs
