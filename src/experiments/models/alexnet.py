"""AlexNet: torchvision's layout (its state_dict and ImageNet weights load), the 2012 paper's, and a BN variant."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from experiments.models.architectures import ALEXNET, ALEXNET_BN, ALEXNET_PAPER
from experiments.models.choices import INITS, NORMS, TOWERS
from experiments.models.geometry import Conv, Layer, as_built, feature_sizes
from experiments.models.layers import (
    RELU,
    ActivationFactory,
    LocalResponseNorm,
    PoolFactory,
    build_features,
    make_activation,
)
from experiments.models.option_facts import KEEPS_SIZE, states

IMAGENET_WEIGHTS = "IMAGENET1K_V1"
IMAGENET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
# The convolutions the paper splits into two towers (``groups=2``); conv1 and conv3 see both.
TOWER_CONVS = ("conv2", "conv4", "conv5")


class AlexNet(nn.Module):
    """``features``, ``avgpool`` (adaptive, 6x6) and ``classifier``, as in ``torchvision.models.AlexNet``.

    ``layers`` is the feature extractor's plain-Python layer list (``ALEXNET``; the config passes
    ``model.features``); ``pooling`` and ``activation`` are factories (a class or a partial).
    """

    def __init__(
        self,
        *,
        layers: Sequence[Layer] = ALEXNET,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 224,
        pooling: PoolFactory = nn.MaxPool2d,
        padding: Mapping[str, Any] | None = None,
        activation: ActivationFactory = RELU,
        block_order: str = "conv-act-pool",
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers = as_built(layers, states(pooling, KEEPS_SIZE))  # pooling=none: the maps keep their size
        feature_sizes(layers, image_size, (padding or {}).get("size", "model"))
        features = build_features(
            layers,
            in_channels,
            pooling=pooling,
            padding=padding,
            activation=activation,
            block_order=block_order,
        )
        self.features = features.module
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(features.channels * 6 * 6, 4096),
            make_activation(activation, "layer 'fc6'"),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            make_activation(activation, "layer 'fc7'"),
            nn.Linear(4096, num_classes),
        )
        self.layer_names = features.layer_names() | {
            "classifier.1": "fc6",
            "classifier.4": "fc7",
            "classifier.6": "fc8",
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def alexnet(*, weights: str | Path | None = None, **kwargs: Any) -> AlexNet:
    """Build AlexNet; ``weights`` is a local state_dict file (torchvision's ImageNet weights fit).

    ``weights="IMAGENET1K_V1"`` takes torchvision's ImageNet file from the torch hub cache, or
    downloads it there; without the file and without a network this fails with what to do instead.
    The file is read with ``torch.load(weights_only=True)``: tensors only, never pickled code.
    A classifier head of another size than the file's is left freshly initialised.
    """
    model = AlexNet(**kwargs)
    if weights is not None:
        load_weights(model, torchvision_weights_file() if str(weights) == IMAGENET_WEIGHTS else weights)
    return model


def torchvision_weights_file() -> Path:
    """torchvision's AlexNet ImageNet state_dict in the torch hub cache, downloaded if it is not there."""
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(IMAGENET_URL).name
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(IMAGENET_URL, str(target), progress=False)
    except Exception as error:  # no network, proxy, disk: all end in the same advice
        raise FileNotFoundError(
            f"model.weights={IMAGENET_WEIGHTS}: torchvision's ImageNet weights are not in {target.parent} "
            f"and could not be downloaded ({type(error).__name__}: {error}). Fetch {IMAGENET_URL} on a "
            f"machine with a network and pass model.weights=/path/to/{target.name}"
        ) from error
    return target


def network_state(saved: dict[str, Any]) -> dict[str, Any]:
    """The network's tensors from a plain state_dict (torchvision's files) or from a run's checkpoint
    (``checkpoints/best.ckpt``: the LightningModule's ``net.`` entries, compiled or not)."""
    if "state_dict" not in saved:
        return saved
    prefixes = ("net._orig_mod.", "net.")
    state = {}
    for key, value in saved["state_dict"].items():
        prefix = next((p for p in prefixes if key.startswith(p)), None)
        if prefix is not None:
            state[key.removeprefix(prefix)] = value
    return state or saved["state_dict"]


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load the tensors of a state_dict or checkpoint file that fit ``model``; a head of another size stays fresh."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.weights: no file at {path}; give the path of a saved state_dict")
    state = network_state(torch.load(path, map_location="cpu", weights_only=True))
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


class AlexNet2012(nn.Module):
    """AlexNet as in Krizhevsky et al. (2012), and its batch-norm variant; torchvision's module layout.

    ``features`` (conv1-conv5 with ReLU, LRN after conv1/conv2 or batch norm after every conv, overlapping
    3x3/2 max pooling), ``avgpool`` (adaptive to 6x6: the identity at the paper's 227x227 input) and
    ``classifier`` (dropout, FC6, FC7 with 4096 units, FC8). ``groups=2`` splits conv2, conv4 and conv5
    into the paper's two towers (conv3 and the FC layers see both). ``fc_bias=False`` reproduces the
    seed's table (62,369,152 parameters with 1000 classes and one tower).
    """

    def __init__(
        self,
        *,
        layers: Sequence[Layer] = ALEXNET_PAPER,
        num_classes: int = 1000,
        in_channels: int = 3,
        image_size: int = 227,
        pooling: PoolFactory = nn.MaxPool2d,
        padding: Mapping[str, Any] | None = None,
        activation: ActivationFactory = RELU,
        block_order: str = "conv-act-pool",
        dropout: float = 0.5,
        groups: int = 1,
        norm: str = "lrn",
        fc_bias: bool = True,
        init: str = "paper",
    ) -> None:
        super().__init__()
        if groups not in TOWERS:
            raise ValueError(
                f"model.net.groups must be 1 (one tower) or 2 (the paper's two towers), got {groups!r}"
            )
        if norm not in NORMS:
            raise ValueError(f"model.net.norm must be one of {NORMS}, got {norm!r}")
        if init not in INITS:
            raise ValueError(f"model.net.init must be 'paper' or 'default', got {init!r}")
        layers = as_built(layers, states(pooling, KEEPS_SIZE))
        feature_sizes(layers, image_size, (padding or {}).get("size", "model"))
        layers = tuple(
            replace(layer, groups=groups) if isinstance(layer, Conv) and layer.name in TOWER_CONVS else layer
            for layer in layers
        )
        features = build_features(
            layers,
            in_channels,
            pooling=pooling,
            padding=padding,
            activation=activation,
            block_order=block_order,
            norm=_conv_norm(norm),
            norm_after_activation=norm == "lrn",
        )
        self.features = features.module
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        fc: list[nn.Module] = []
        for name, width_in, width_out in (("fc6", features.channels * 6 * 6, 4096), ("fc7", 4096, 4096)):
            linear = nn.Linear(width_in, width_out, bias=fc_bias)
            act = make_activation(activation, f"layer '{name}'")
            if norm == "batch":  # the Keras order: Dense, BatchNorm, ReLU, Dropout
                fc += [linear, nn.BatchNorm1d(width_out), act, nn.Dropout(p=dropout)]
            else:  # torchvision's order: Dropout, Linear, ReLU
                fc += [nn.Dropout(p=dropout), linear, act]
        fc.append(nn.Linear(4096, num_classes, bias=fc_bias))
        self.classifier = nn.Sequential(*fc)
        linear = [i for i, m in enumerate(self.classifier) if isinstance(m, nn.Linear)]
        self.layer_names = features.layer_names() | {
            f"classifier.{i}": name for i, name in zip(linear, ("fc6", "fc7", "fc8"))
        }
        if init == "paper":
            self._init_paper()

    def _init_paper(self) -> None:
        """Weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the FC layers, 0 elsewhere (the paper)."""
        ones = {"conv2", "conv4", "conv5", "fc6", "fc7", "fc8"}
        for path, module in self.named_modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.01)
                if module.bias is not None:
                    nn.init.constant_(module.bias, 1.0 if self.layer_names.get(path) in ones else 0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _conv_norm(norm: str) -> Callable[[Conv], nn.Module | None]:
    def make(layer: Conv) -> nn.Module | None:
        if norm == "batch":
            return nn.BatchNorm2d(layer.out_channels)
        if norm == "lrn" and layer.name in ("conv1", "conv2"):
            return LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)
        return None

    return make


def alexnet_paper(**kwargs: Any) -> AlexNet2012:
    """The 2012 paper's AlexNet: 227x227, LRN, N(0, 0.01) init; ``groups=2`` for two towers."""
    return AlexNet2012(**({"layers": ALEXNET_PAPER} | kwargs))


def alexnet_bn(**kwargs: Any) -> AlexNet2012:
    """The seed's Keras AlexNet: the paper's widths at 224x224, batch norm after each conv and FC, dropout 0.4."""
    defaults = {"layers": ALEXNET_BN, "norm": "batch", "dropout": 0.4, "init": "default", "image_size": 224}
    return AlexNet2012(**(defaults | kwargs))
