"""Dead units: the share of units never positive after an activation module on the whole test set.

A unit is a channel of a conv layer's output (N, C, H, W: never positive at any position of any image)
or a feature of a linear one (N, F). Hooks sit on every activation module of the network (torch's
``nn.modules.activation`` classes and the models' own ``ScaledTanh``); for a ReLU "never positive" is
"never active". A sigmoid's units are never dead by this rule; a tanh's are those never above zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from experiments.probes.inputs import ProbeInputs


@dataclass
class DeadUnitsResult:
    """Per activation module (by its name in the network): dead units and all units."""

    dead: dict[str, int]
    units: dict[str, int]

    @property
    def share(self) -> float:
        total = sum(self.units.values())
        return sum(self.dead.values()) / total if total else float("nan")

    def metrics(self) -> dict[str, float]:
        layers = {f"probe/dead_units/{name}": self.dead[name] / self.units[name] for name in self.units}
        return {"probe/dead_units": self.share} | layers

    def curves(self) -> dict[str, object]:
        return {
            "dead_units": {
                "layer": list(self.units),
                "dead": list(self.dead.values()),
                "units": list(self.units.values()),
            }
        }


def is_activation(module: nn.Module) -> bool:
    """torch's activation modules (ReLU, Tanh, ...) and the models' ScaledTanh; not Softmax-like ones."""
    name = type(module).__name__
    return (
        type(module).__module__ == "torch.nn.modules.activation" and "Softmax" not in name
    ) or name == "ScaledTanh"


def probe_dead_units(inputs: ProbeInputs) -> DeadUnitsResult:
    """One pass over the test images with a forward hook on each activation module."""
    alive: dict[str, torch.Tensor] = {}
    hooks = []

    def watch(name: str):
        def hook(_module: nn.Module, _args: object, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor) or output.dim() < 2:
                return
            positive = (output > 0).transpose(0, 1).reshape(output.shape[1], -1).any(dim=1)
            key = (
                name
                if name not in alive or alive[name].shape == positive.shape
                else f"{name}@{len(positive)}"
            )
            alive[key] = alive[key] | positive if key in alive else positive  # a module used twice: two keys

        return hook

    for name, module in inputs.net.named_modules():
        if is_activation(module):
            hooks.append(module.register_forward_hook(watch(name)))
    try:
        inputs.logits(
            lambda images, _where: images
        )  # an edit that changes nothing: a forward, not the kept logits
    finally:
        for handle in hooks:
            handle.remove()
    return DeadUnitsResult(
        dead={name: int((~seen).sum()) for name, seen in alive.items()},
        units={name: int(seen.numel()) for name, seen in alive.items()},
    )
