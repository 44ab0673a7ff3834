"""``results.json``: the record of one job, rewritten atomically as the job goes."""

from __future__ import annotations

import json
import math
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"


def _plain(value: Any) -> Any:
    """JSON-safe copy: tensors and numpy scalars to numbers, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


class Results:
    """Accumulates fields and writes them to ``run_dir/results.json`` (tmp file + rename)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / RESULTS_FILE
        self.data: dict[str, Any] = {}
        self._keep_earlier_attempt()

    def _keep_earlier_attempt(self) -> None:
        """A rerun (``sweep.resume``) keeps an earlier attempt's record as ``results.attempt-N.json``."""
        if not self.path.is_file():
            return
        attempt = 1
        while (kept := self.path.with_name(f"results.attempt-{attempt}.json")).exists():
            attempt += 1
        os.replace(self.path, kept)

    def update(self, **fields: Any) -> None:
        from experiments.redaction import redact

        self.data.update(redact(_plain(fields)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False))
        os.replace(tmp, self.path)


def read_results(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / RESULTS_FILE).read_text())


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "experiments",
        "torch",
        "torchvision",
        "pytorch-lightning",
        "torchmetrics",
        "hydra-core",
        "wandb",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found
