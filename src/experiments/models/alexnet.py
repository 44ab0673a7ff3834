"""AlexNet with torchvision's layout, so torchvision's state_dict (and ImageNet weights) load."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from experiments.models.architectures import ALEXNET
from experiments.models.geometry import feature_sizes
from experiments.models.layers import Spec, build_features, make_activation


class AlexNet(nn.Module):
    """``features``, ``avgpool`` (adaptive, 6x6) and ``classifier``, as in ``torchvision.models.AlexNet``."""

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        pooling: Spec = "max",
        padding: Mapping[str, Any] | None = None,
        activation: Spec = "relu",
        block_order: str = "conv-act-pool",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        feature_sizes(ALEXNET, image_size, (padding or {}).get("size", "model"))
        self.features, channels = build_features(
            ALEXNET, in_channels, pooling=pooling, padding=padding, activation=activation, block_order=block_order
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(channels * 6 * 6, 4096),
            make_activation(activation),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            make_activation(activation),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(*, weights: str | Path | None = None, **kwargs: Any) -> AlexNet:
    """Build AlexNet; ``weights`` is a local state_dict file (torchvision's ImageNet weights fit).

    The file is read with ``torch.load(weights_only=True)``: tensors only, never pickled code.
    A classifier head of another size than the file's is left freshly initialised.
    """
    model = AlexNet(**kwargs)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model: nn.Module, path: str | Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights: no file at {path}; give the path of a saved state_dict")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = sorted(set(own) - set(fitting))
    unexpected = sorted(set(state) - set(own))
    if not fitting:
        raise ValueError(f"model.weights: {path} has no tensor matching this model's layers")
    if unexpected:
        raise ValueError(f"model.weights: {path} has keys this model lacks: {unexpected[:5]}")
    model.load_state_dict(fitting, strict=False)
    if missing:
        print(f"model.weights: loaded {len(fitting)} tensors from {path}; kept fresh: {missing}")
