"""``${slurm_gpus:${trainer.accelerator},${trainer.devices}}``: the GPUs a SLURM job asks for, from its trainer."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

#: Trainer accelerators that run on GPUs; ``auto`` and ``cpu`` ask SLURM for none.
GPU_ACCELERATORS = ("gpu", "cuda")


def slurm_gpus(accelerator: Any, devices: Any) -> int:
    """GPUs per node for ``hydra/launcher=slurm``: ``trainer.devices`` where the trainer runs on GPUs, else 0.

    ``accelerator=auto`` asks for none (a CPU cluster would refuse a GPU request); ``trainer=gpu`` asks.
    ``devices`` as a list of GPU ids counts them; ``-1``/``auto`` cannot be known before the job runs: 1.
    """
    if str(accelerator).lower() not in GPU_ACCELERATORS:
        return 0
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
        return devices
    if isinstance(devices, list | tuple) or OmegaConf.is_list(devices):
        return len(devices)
    text = str(devices)
    if "," in text:
        return len([d for d in text.split(",") if d.strip()])
    return int(text) if text.isdigit() and int(text) > 0 else 1


def register_launcher_resolvers() -> None:
    if not OmegaConf.has_resolver("slurm_gpus"):
        OmegaConf.register_new_resolver("slurm_gpus", slurm_gpus)
