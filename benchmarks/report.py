"""What every benchmark records about the machine, and where it writes its JSON and Markdown results."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")


def machine(**extra: Any) -> dict[str, Any]:
    """Platform, CPU count and Python version, plus what a benchmark adds (torch threads, versions, GPU)."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        **extra,
    }


def save(name: str, report: dict[str, Any], markdown: str | None = None) -> None:
    """Write ``results/<name>.json`` and, where given, ``results/<name>.md``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown)
