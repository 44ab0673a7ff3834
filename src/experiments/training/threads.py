"""How many torch CPU threads a job uses: a fixed number, torch's default, or ``auto``.

``auto`` counts the cores that other processes leave idle (sampled from ``/proc/stat`` for a moment)
and uses that many, up to torch's default. On a small shared machine two OpenMP threads that compete
with another busy process wait on each other and a step gets many times slower, while on an idle
machine they are ~1.5x faster than one (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path

STAT = Path("/proc/stat")


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs together, or None where /proc/stat is missing."""
    try:
        fields = [int(v) for v in STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields[:8])


def idle_cores(window_s: float = 0.2) -> float | None:
    """How many cores were idle over the next ``window_s`` seconds (this process sleeps meanwhile)."""
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(window_s)
    after = _cpu_times()
    total = after[1] - before[1] if after else 0
    if not total:
        return None
    return (after[0] - before[0]) / total * (os.cpu_count() or 1)


@cache
def torch_default_threads() -> int:
    """torch's own intra-op thread count, read once, before any job of this process changed it."""
    import torch

    return torch.get_num_threads()


def choose_threads(setting: int | str | None, *, deterministic: bool = False) -> int:
    """The thread count for ``setting``: an int as given, null for torch's default, ``auto`` as above.

    A deterministic run keeps torch's default under ``auto``, so a resumed run uses the same count.
    """
    default = torch_default_threads()
    if setting is None or (setting == "auto" and deterministic):
        return default
    if setting == "auto":
        idle = idle_cores()
        return default if idle is None else max(1, min(default, int(idle + 0.2)))
    return int(setting)
