"""A job's share of the machine in a parallel sweep: its own GPU(s) through lock-file slots, or its cores."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

GpuQuery = Callable[[str], list[int]]


class DeviceSlots:
    """Device slots for jobs that run side by side: ``per_device`` lock files per device, held while a job runs.

    A job takes one slot on each of the devices it wants, so at most ``per_device`` jobs share a device; free
    devices are filled before a second job joins one. Locks are ``flock`` locks, so a job that dies frees
    its slots at once.
    """

    def __init__(self, lock_dir: Path, devices: Sequence[int], per_device: int = 1) -> None:
        self.lock_dir = Path(lock_dir)
        self.devices = list(devices)
        self.per_device = per_device
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self._held: list[Any] = []

    def acquire(self, count: int = 1, timeout: float | None = None, poll: float = 0.2) -> list[int]:
        if count > len(self.devices):
            raise ValueError(
                f"a job wants {count} devices but only {len(self.devices)} exist: {self.devices}"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            taken = self._try(count)
            if taken is not None:
                return taken
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"no {count} free device(s) among {self.devices} after {timeout} s")
            time.sleep(poll)

    def _try(self, count: int) -> list[int] | None:
        handles, taken = [], []
        for slot in range(self.per_device):
            for device in self.devices:
                if device in taken:
                    continue
                name = f"device-{device}.lock" if slot == 0 else f"device-{device}.slot-{slot}.lock"
                handle = open(self.lock_dir / name, "w")  # noqa: SIM115 (held while the job runs)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                handles.append(handle)
                taken.append(device)
                if len(taken) == count:
                    self._held = handles
                    return sorted(taken)
        for handle in handles:
            handle.close()
        return None

    def release(self) -> None:
        for handle in self._held:
            handle.close()
        self._held = []


def parallel_jobs() -> int:
    """How many jobs the launcher runs at once (``hydra.launcher.n_jobs``; 1 for the basic launcher)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    n_jobs = HydraConfig.get().launcher.get("n_jobs", 1) or 1
    return max(1, int(n_jobs) if int(n_jobs) > 0 else (os.cpu_count() or 1))


def jobs_per_device() -> int:
    """How many sweep jobs may share one GPU (``hydra.launcher.jobs_per_device`` of ``hydra/launcher=parallel``)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return 1
    return int(HydraConfig.get().launcher.get("jobs_per_device", 1) or 1)


def cuda_devices(accelerator: str) -> list[int]:
    """The CUDA device indices a job with this accelerator may take (none for the CPU)."""
    if accelerator not in ("auto", "gpu", "cuda"):
        return []
    import torch

    return list(range(torch.cuda.device_count()))


class JobDevices:
    """The share of the machine one job of a parallel sweep gets: its own GPU(s), or a slice of the cores.

    ``per_device``: how many jobs may share a GPU. ``gpus`` finds the GPUs (tests pass a fake list to
    exercise the slots without GPUs).
    """

    def __init__(
        self,
        sweep_dir: Path,
        accelerator: str,
        devices: Any,
        n_jobs: int,
        gpus: GpuQuery = cuda_devices,
        per_device: int = 1,
    ) -> None:
        self.slots: DeviceSlots | None = None
        self.gpus: list[int] = []
        self.threads: int | None = None
        if n_jobs <= 1:
            return
        visible = gpus(accelerator)
        if visible:
            wanted = devices if isinstance(devices, int) and devices > 0 else 1
            self.slots = DeviceSlots(sweep_dir / ".device_slots", visible, per_device)
            self.gpus = self.slots.acquire(wanted)
        else:
            self.threads = max(1, (os.cpu_count() or 1) // n_jobs)

    def trainer_overrides(self) -> dict[str, Any]:
        """Keyword arguments for the Trainer: the assigned GPU indices."""
        return {"accelerator": "gpu", "devices": self.gpus} if self.gpus else {}

    def describe(self) -> dict[str, Any]:
        if self.gpus:
            return {"assigned": ",".join(f"gpu{i}" for i in self.gpus)}
        return {"assigned": f"cpu x{self.threads} threads"} if self.threads else {}

    def release(self) -> None:
        if self.slots is not None:
            self.slots.release()
