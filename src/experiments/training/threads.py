"""How many torch CPU threads a job uses: a fixed number, torch's default, or ``auto``.

``auto`` counts the cores that other processes leave idle (from ``/proc/stat``, since the previous job
chose, or over a moment) and uses that many, up to torch's default. On a small shared machine two OpenMP threads that compete
with another busy process wait on each other and a step gets many times slower, while on an idle
machine they are ~1.5x faster than one (docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuSample:
    """The machine's (idle, total) CPU jiffies and this process's own CPU seconds at one moment."""

    idle: int
    total: int
    own_seconds: float
    at: float


def sample_cpu() -> CpuSample | None:
    """A :class:`CpuSample` now, or None where ``/proc/stat`` is missing."""
    try:
        fields = [int(v) for v in STAT.read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    own = os.times()  # this process and its finished children (DataLoader workers)
    own_seconds = own.user + own.system + own.children_user + own.children_system
    return CpuSample(idle, sum(fields[:8]), own_seconds, time.monotonic())


def idle_cores(since: CpuSample | None = None, window_s: float = 0.2) -> float | None:
    """How many cores other processes left idle since ``since`` (this process's own work counts as idle).

    A window shorter than ``window_s`` (or none) is topped up by sleeping.
    """
    before = since or sample_cpu()
    if before is None:
        return None
    short = window_s - (time.monotonic() - before.at)
    if short > 0:
        time.sleep(short)
    after = sample_cpu()
    total = after.total - before.total if after else 0
    if not after or not total:
        return None
    own = (after.own_seconds - before.own_seconds) * os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    return min(cores, (after.idle - before.idle + own) / total * cores)


@cache
def torch_default_threads() -> int:
    """torch's own intra-op thread count, read once, before any job of this process changed it."""
    import torch

    return torch.get_num_threads()


_window_start: CpuSample | None = None
RECENT_S = 30.0


def choose_threads(setting: int | str | None, *, deterministic: bool = False) -> int:
    """The thread count for ``setting``: an int as given, null for torch's default, ``auto`` as above.

    A deterministic run keeps torch's default under ``auto``, so a resumed run uses the same count.
    """
    default = torch_default_threads()
    if setting is None or (setting == "auto" and deterministic):
        return default
    if setting == "auto":
        global _window_start
        # Since the previous choice (a sweep's last job, less this process's own work), so a job
        # waits for no fresh sample; a process's first job, or one after a long job, takes a moment.
        recent = _window_start and time.monotonic() - _window_start.at < RECENT_S
        idle = idle_cores(_window_start if recent else None)
        _window_start = sample_cpu()
        return default if idle is None else max(1, min(default, int(idle + 0.2)))
    return int(setting)
