"""DDP without re-running argv: the job's own process is rank 0 and starts ranks 1..N-1 itself.

Lightning's default DDP launcher re-executes ``sys.argv`` in every extra rank; under ``hydra -m``
that repeats the whole sweep. Here each extra rank runs ``python -m experiments.training.rank_worker CONFIG`` on the
job's resolved config, and ``LOCAL_RANK`` in the environment tells Lightning that the processes
already exist, so it launches nothing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiments.training.rank_worker import leave_process_group

RANK_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK")
SUBPROCESS_STRATEGIES = ("ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false")


def processes_to_launch(trainer: Mapping[str, Any]) -> int:
    """How many processes this job needs (1 unless the strategy is script-launched DDP on >1 device)."""
    strategy = trainer.get("strategy", "auto")
    if not isinstance(strategy, str) or strategy not in SUBPROCESS_STRATEGIES:
        return 1
    if "LOCAL_RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        return 1  # a cluster or torchrun already started one process per rank
    devices = trainer.get("devices", "auto")
    if isinstance(devices, list | tuple):
        return len(devices)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if devices in ("auto", -1, "-1"):
        import torch

        accelerator = trainer.get("accelerator", "auto")
        if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
            return torch.cuda.device_count()
        return 1
    return int(devices)


def check_devices(trainer: Mapping[str, Any]) -> None:
    """Refuse more devices than the machine has, before any process or data is started."""
    from experiments.config import ConfigError

    devices = trainer.get("devices", "auto")
    wanted = len(devices) if isinstance(devices, list | tuple) else devices
    if not isinstance(wanted, int) or wanted < 1:
        return
    accelerator = trainer.get("accelerator", "auto")
    if accelerator in ("gpu", "cuda"):
        import torch

        have = torch.cuda.device_count()
        if wanted > have:
            raise ConfigError(
                "trainer.devices",
                f"{wanted} GPU(s) asked for, {have} found; lower trainer.devices or use trainer.accelerator=cpu",
            )
    elif accelerator == "cpu" and wanted > (os.cpu_count() or 1):
        raise ConfigError(
            "trainer.devices",
            f"{wanted} CPU processes asked for, but this machine has {os.cpu_count()} cores; lower trainer.devices",
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RankLauncher:
    """A context: on entry starts ranks 1..N-1 on a saved config and makes this process rank 0.

    With ``world_size`` 1 it does nothing. On exit it waits for the ranks and restores the environment.
    """

    def __init__(self, config: dict[str, Any], world_size: int) -> None:
        self.config = config
        self.world_size = world_size
        self.workers: list[subprocess.Popen[bytes]] = []
        self.config_file: Path | None = None
        self.saved_env = {name: os.environ.get(name) for name in RANK_VARIABLES}

    def __enter__(self) -> RankLauncher:
        if self.world_size > 1:
            self._start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        codes = self.close() if self.world_size > 1 else []
        if any(codes) and kind is None:
            raise RuntimeError(f"DDP worker ranks exited with codes {codes}")

    def _start(self) -> None:
        from omegaconf import OmegaConf

        shared = {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(free_port()),
            "WORLD_SIZE": str(self.world_size),
            "NODE_RANK": "0",
        }
        # The resolved config may hold secrets from the environment: a private temp file, not the run dir.
        handle, name = tempfile.mkstemp(prefix="experiments-ddp-", suffix=".yaml")
        os.close(handle)
        self.config_file = Path(name)
        OmegaConf.save(OmegaConf.create(self.config), self.config_file)
        self.workers = [
            subprocess.Popen(
                [sys.executable, "-m", "experiments.training.rank_worker", str(self.config_file)],
                env={**os.environ, **shared, "LOCAL_RANK": str(rank)},
            )
            for rank in range(1, self.world_size)
        ]
        os.environ.update({**shared, "LOCAL_RANK": "0"})

    def close(self, timeout: float = 120) -> list[int]:
        """Wait for the workers (terminating them after ``timeout``) and restore the environment."""
        codes = []
        for worker in self.workers:
            try:
                codes.append(worker.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                worker.terminate()
                codes.append(worker.wait())
        if self.config_file is not None:
            self.config_file.unlink(missing_ok=True)
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        leave_process_group()
        return codes
