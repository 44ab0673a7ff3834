"""What every benchmark records about the machine, and where it writes its JSON and Markdown results."""

from __future__ import annotations

import json
import os
import platform
import sys
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


def torch_machine(**extra: Any) -> dict[str, Any]:
    """``machine()`` plus torch's thread count and version, Lightning's version and the GPU's name."""
    import pytorch_lightning as pl
    import torch

    return machine(
        torch_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        torch=torch.__version__,
        pytorch_lightning=pl.__version__,
        **extra,
    )


def command(script: str) -> str:
    """The command line that ran ``benchmarks/<script>``, as reports print it."""
    return " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]])


def header(report: dict[str, Any], threads: str = "threads") -> str:
    """The Markdown line every torch benchmark starts with: command, machine, versions, load."""
    host = report["machine"]
    return (
        f"Command: `{report['command']}`. {host['cpus']} CPUs, GPU: {host['gpu'] or 'none'}, torch "
        f"{host['torch']} ({host['torch_threads']} {threads}), pytorch-lightning {host['pytorch_lightning']}, "
        f"load average {report['load_average_before'][0]:.1f} before and {report['load_average_after'][0]:.1f} after."
    )


def save(name: str, report: dict[str, Any], markdown: str | None = None) -> None:
    """Write ``results/<name>.json`` and, where given, ``results/<name>.md``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    if markdown is not None:
        (RESULTS / f"{name}.md").write_text(markdown)
