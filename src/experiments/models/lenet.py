"""LeNet-5 (LeCun et al., 1998), modern form: full C3, linear output, any pooling/padding/activation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from experiments.models.architectures import LENET5
from experiments.models.geometry import feature_sizes
from experiments.models.layers import Spec, build_features, make_activation


class LeNet5(nn.Module):
    """``features`` (C1, S2, C3, S4) then ``classifier`` (C5 as a linear layer, F6, output)."""

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        pooling: Spec = "max",
        padding: Mapping[str, Any] | None = None,
        activation: Spec = "relu",
        block_order: str = "conv-act-pool",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        padding_size = (padding or {}).get("size", "model")
        side = feature_sizes(LENET5, image_size, padding_size)[-1]
        self.features, channels = build_features(
            LENET5, in_channels, pooling=pooling, padding=padding, activation=activation, block_order=block_order
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, 120),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(120, 84),
            make_activation(activation),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def lenet5(**kwargs: Any) -> LeNet5:
    """Build the modern LeNet-5 (61,706 parameters at 32x32 with 10 classes)."""
    return LeNet5(**kwargs)
