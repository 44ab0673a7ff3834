"""On the training device: where split tensors live, and each uint8 batch turned into the model's input.

The model says which memory layout it wants its input in through an ``input_memory_format``
attribute (:class:`~experiments.training.module.ClassificationModule` sets it from ``channels_last``);
the datamodule's ``on_after_batch_transfer`` asks for it, since Lightning runs only the datamodule's
hook when both define one.
"""

from __future__ import annotations

from typing import Any

import torch

from experiments.data.augment import Augment


def target_device(setting: str, trainer: Any) -> torch.device:
    """``data.device``: a device name, or ``auto`` for the trainer's root device (the CPU without one)."""
    if setting != "auto":
        return torch.device(setting)
    return trainer.strategy.root_device if trainer is not None else torch.device("cpu")


def requested_memory_format(trainer: Any) -> torch.memory_format:
    """The layout the trained module asks for (its ``input_memory_format``); NCHW when it asks nothing."""
    module = trainer.lightning_module if trainer is not None else None
    return getattr(module, "input_memory_format", torch.contiguous_format)


def model_input(
    images: torch.Tensor,
    *,
    augment: Augment,
    scale: torch.Tensor,
    shift: torch.Tensor,
    channels: int,
    train: bool,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> torch.Tensor:
    """uint8 (N, C, H, W) -> normalised float: augmented if ``train``, grey repeated to RGB where needed,
    in ``memory_format`` (converted while still uint8, so channels_last costs a byte per value)."""
    if train and augment.active:
        if augment.resamples:
            images = images.float()  # interpolation needs floats; crop and flip work on uint8
        images = augment(images)
    scale, shift = scale.to(images.device), shift.to(images.device)
    if images.shape[1] != channels:
        images = images.expand(-1, channels, -1, -1)
    if memory_format != torch.contiguous_format:
        images = images.contiguous(memory_format=memory_format)  # the multiply-add keeps the layout
    return torch.addcmul(-shift, images.float(), scale)
