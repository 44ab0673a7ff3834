"""LeNet-5 (LeCun et al., 1998): the modern form (full C3, linear output) and the paper's network."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.architectures import LENET5, LENET5_CLASSIC
from experiments.models.choices import BLOCK_ORDERS, CONNECTIONS, INITS, OUTPUTS
from experiments.models.convs import make_conv
from experiments.models.geometry import Conv, Layer, Pool, as_built, conv_padding, feature_sizes
from experiments.models.layers import (
    RELU,
    ActivationFactory,
    EuclideanRBF,
    PartialConv2d,
    PoolFactory,
    ScaledTanh,
    Subsampling2d,
    build_features,
    make_activation,
    make_subsampling,
)
from experiments.models.option_facts import KEEPS_SIZE, LEARNED, LEARNED_IN_SUBSAMPLING, states

# Table I of the paper: the S2 maps (0-5) each C3 map (0-15) reads. Maps 0-5 take three neighbours,
# 6-11 four neighbours, 12-14 four non-contiguous maps, 15 all six: 60 connections, 1,516 parameters.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    *((j, (j + 1) % 6, (j + 2) % 6) for j in range(6)),
    *((j, (j + 1) % 6, (j + 2) % 6, (j + 3) % 6) for j in range(6)),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)

# The output layer's RBF centres: stylised 7x12 bitmaps of the digits ('#' = +1, '.' = -1), drawn for
# this project after the paper's Fig. 3 (the paper's own bitmaps are not published as data).
DIGIT_BITMAPS: tuple[str, ...] = (
    ".......|..###..|.#...#.|#.....#|#.....#|#.....#|#.....#|#.....#|#.....#|.#...#.|..###..|.......",
    ".......|...#...|..##...|.#.#...|...#...|...#...|...#...|...#...|...#...|...#...|.#####.|.......",
    ".......|..###..|.#...#.|#.....#|......#|.....#.|....#..|...#...|..#....|.#.....|#######|.......",
    ".......|.#####.|......#|......#|.....#.|..###..|.....#.|......#|......#|......#|.#####.|.......",
    ".......|....#..|...##..|..#.#..|.#..#..|#...#..|#######|....#..|....#..|....#..|....#..|.......",
    ".......|#######|#......|#......|#......|######.|......#|......#|......#|#.....#|.#####.|.......",
    ".......|..####.|.#.....|#......|#......|#.###..|##...#.|#.....#|#.....#|.#...#.|..###..|.......",
    ".......|#######|......#|.....#.|....#..|....#..|...#...|...#...|..#....|..#....|..#....|.......",
    ".......|..###..|.#...#.|#.....#|.#...#.|..###..|.#...#.|#.....#|#.....#|.#...#.|..###..|.......",
    ".......|..###..|.#...#.|#.....#|#.....#|.#...##|..###.#|......#|......#|.....#.|.####..|.......",
)

# The classic network's layer kinds, in order: C1, S2, C3, S4, C5.
CLASSIC_KINDS = (Conv, Pool, Conv, Pool, Conv)


class LeNet5(nn.Module):
    """``features`` (C1, S2, C3, S4) then ``classifier`` (C5 as a linear layer, F6, output).

    ``layers`` is the feature extractor's plain-Python layer list (``LENET5``; the config passes
    ``model.features``); ``pooling`` and ``activation`` are factories (a class or a partial).
    """

    def __init__(
        self,
        *,
        layers: Sequence[Layer] = LENET5,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        pooling: PoolFactory = nn.MaxPool2d,
        padding: Mapping[str, Any] | None = None,
        activation: ActivationFactory = RELU,
        block_order: str = "conv-act-pool",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        padding_size = (padding or {}).get("size", "model")
        layers = as_built(layers, states(pooling, KEEPS_SIZE))  # pooling=none: the maps keep their size
        side = feature_sizes(layers, image_size, padding_size)[-1]
        features = build_features(
            layers,
            in_channels,
            pooling=pooling,
            padding=padding,
            activation=activation,
            block_order=block_order,
        )
        self.features = features.module
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(features.channels * side * side, 120),
            make_activation(activation, "layer 'C5'"),
            nn.Dropout(dropout),
            nn.Linear(120, 84),
            make_activation(activation, "layer 'F6'"),
            nn.Dropout(dropout),
            nn.Linear(84, num_classes),
        )
        self.layer_names = features.layer_names() | {
            "classifier.1": "C5",
            "classifier.4": "F6",
            "classifier.7": "output",
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def lenet5(**kwargs: Any) -> LeNet5:
    """Build the modern LeNet-5 (61,706 parameters at 32x32 with 10 classes)."""
    return LeNet5(**kwargs)


def digit_bitmaps() -> torch.Tensor:
    """The 10 RBF centres as a ``10 x 84`` tensor of +1/-1 (row-major 12 rows of 7)."""
    rows = [bitmap.split("|") for bitmap in DIGIT_BITMAPS]
    if any(len(r) != 12 or any(len(line) != 7 for line in r) for r in rows):
        raise ValueError("each digit bitmap must be 12 rows of 7 pixels")
    return torch.tensor([[1.0 if c == "#" else -1.0 for c in "".join(r)] for r in rows])


class LeNet5Classic(nn.Module):
    """LeNet-5 as in LeCun et al. (1998): 60,000 trainable parameters at 32x32 with the RBF output.

    ``features``: C1, S2 (trainable subsampling), C3 (partial connection table), S4, C5 (a 5x5
    convolution), each followed by the squashing function; ``classifier``: F6 (84 units) and the
    output layer. ``forward`` returns logits: the *negative* squared distances to the 10 RBF
    centres, so cross-entropy on them and ``argmax`` work as with any classifier.

    Options: ``connections="full"`` gives C3 all 6 inputs (2,416 parameters), ``output="linear"``
    replaces the RBF units by a trained ``Linear(84, num_classes)`` (needed for other than 10 classes).
    The pooling group sets the S layers' operator (``avg`` is the paper's sum); ``block_order=
    "conv-pool-act"`` drops the squashing after C1 and C3 so S2/S4 see the raw convolutions.
    """

    def __init__(
        self,
        *,
        layers: Sequence[Layer] = LENET5_CLASSIC,
        num_classes: int = 10,
        in_channels: int = 1,
        image_size: int = 32,
        pooling: PoolFactory = nn.AvgPool2d,
        padding: Mapping[str, Any] | None = None,
        activation: ActivationFactory = ScaledTanh,
        block_order: str = "conv-act-pool",
        connections: str = "paper",
        output: str = "rbf",
        init: str = "paper",
    ) -> None:
        super().__init__()
        if block_order not in BLOCK_ORDERS:
            raise ValueError(f"model.net.block_order must be one of {BLOCK_ORDERS}, got {block_order!r}")
        if connections not in CONNECTIONS:
            raise ValueError(f"model.net.connections must be 'paper' or 'full', got {connections!r}")
        if output not in OUTPUTS:
            raise ValueError(f"model.net.output must be 'rbf' or 'linear', got {output!r}")
        if output == "rbf" and num_classes != 10:
            raise ValueError(
                f"model.net.output=rbf has bitmaps for the 10 digits only, but data.num_classes={num_classes}; "
                "set model.net.output=linear"
            )
        if init not in INITS:
            raise ValueError(f"model.net.init must be 'paper' or 'default', got {init!r}")
        if tuple(type(layer) for layer in layers) != CLASSIC_KINDS:
            raise ValueError(
                "model.net.layers of the classic LeNet-5 must be 5 layers: Conv, Pool, Conv, Pool, Conv "
                f"(C1, S2, C3, S4, C5), got {[getattr(layer, 'name', layer) for layer in layers]}"
            )
        if states(pooling, LEARNED):
            raise ValueError(LEARNED_IN_SUBSAMPLING)
        padding = dict(padding or {})
        layers = as_built(layers, states(pooling, KEEPS_SIZE))
        side = feature_sizes(layers, image_size, padding.get("size", "model"))[-1]
        c1, s2, c3, s4, c5 = layers
        pre_pool_act = block_order == "conv-act-pool"

        def act(after: Layer) -> tuple[str, nn.Module]:
            return f"{after.name}_act", make_activation(activation, f"layer '{after.name}'")

        features: list[tuple[str, nn.Module]] = [(c1.name, make_conv(in_channels, c1, padding))]
        if pre_pool_act:
            features.append(act(c1))
        features += [(s2.name, make_subsampling(pooling, s2, c1.out_channels)), act(s2)]
        if connections == "paper":
            features.append((c3.name, _partial_conv(c1.out_channels, c3, padding)))
        else:
            features.append((c3.name, make_conv(c1.out_channels, c3, padding)))
        if pre_pool_act:
            features.append(act(c3))
        features += [
            (s4.name, make_subsampling(pooling, s4, c3.out_channels)),
            act(s4),
            (c5.name, make_conv(c3.out_channels, c5, padding)),
            act(c5),
        ]
        self.features = nn.Sequential(OrderedDict(features))
        head: list[tuple[str, nn.Module]] = [
            ("flatten", nn.Flatten()),
            ("F6", nn.Linear(c5.out_channels * side * side, 84)),
            ("F6_act", make_activation(activation, "layer 'F6'")),
            ("output", EuclideanRBF(digit_bitmaps()) if output == "rbf" else nn.Linear(84, num_classes)),
        ]
        self.classifier = nn.Sequential(OrderedDict(head))
        self.rbf_output = output == "rbf"
        # The children are named after their layers (``features.C1``, ``features.S2_act``).
        self.layer_names = {
            f"{part}.{name}": name
            for part in ("features", "classifier")
            for name, _ in getattr(self, part).named_children()
            if name != "flatten"
        }
        if init == "paper":
            self._init_paper()

    def _init_paper(self) -> None:
        """Weights uniform in +-2.4 / fan-in (the paper's rule), biases zero."""
        for module in self.modules():
            if isinstance(module, PartialConv2d):
                area = module.kernel_size[0] * module.kernel_size[1]
                for row, inputs in zip(module.weight.split([len(t) for t in module.table]), module.table):
                    bound = 2.4 / (len(inputs) * area)
                    nn.init.uniform_(row, -bound, bound)
            elif isinstance(module, nn.Conv2d | nn.Linear):
                bound = 2.4 / (module.weight[0].numel())
                nn.init.uniform_(module.weight, -bound, bound)
            elif isinstance(module, Subsampling2d):
                bound = 2.4 / module.area
                nn.init.uniform_(module.weight, -bound, bound)
            else:
                continue
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor, *, body_only: bool = False) -> torch.Tensor:
        """Logits; ``body_only``: F6's output, before the RBF layer (see :attr:`curvature_head`)."""
        if body_only and self.rbf_output:
            return self.classifier[:-1](self.features(x))
        out = self.classifier(self.features(x))
        return -out if self.rbf_output else out

    @property
    def curvature_head(self) -> Any:
        """The RBF layer as part of the loss for SDLM's Gauss-Newton estimate, as in the paper, whose
        second-derivative pass starts at the RBF units' quadratic: ``None`` with a linear output."""
        return (lambda f6: -self.classifier.output(f6)) if self.rbf_output else None


def _partial_conv(in_channels: int, layer: Conv, padding: Mapping[str, Any]) -> PartialConv2d:
    if in_channels != 6 or layer.out_channels != 16:
        raise ValueError("the C3 connection table is defined for 6 input and 16 output maps")
    return PartialConv2d(
        in_channels,
        layer.out_channels,
        layer.kernel,
        C3_TABLE,
        padding=conv_padding(layer, padding.get("size", "model")),
        padding_mode=padding.get("mode", "zeros"),
        value=float(padding.get("value", 0.0)),
    )


def lenet5_classic(**kwargs: Any) -> LeNet5Classic:
    """Build the 1998 LeNet-5 (60,000 trainable parameters at 32x32 with the RBF output)."""
    return LeNet5Classic(**kwargs)


class RBFLoss(nn.Module):
    """Loss on the RBF logits (negative distances ``-y``): ``cross_entropy`` (default) or the paper's ``map``.

    MAP (LeCun et al. 1998, eq. 9): ``E = y_target + log(exp(-j) + sum_i exp(-y_i))``: it pulls the
    correct class's distance down and pushes the others up; the constant ``j > 0`` stops the push
    once the wrong classes are already far. Cross-entropy is the same without the ``exp(-j)`` term.
    """

    def __init__(self, criterion: str = "cross_entropy", j: float = 1.0) -> None:
        super().__init__()
        if criterion not in ("cross_entropy", "map"):
            raise ValueError(f"model.loss.criterion must be 'cross_entropy' or 'map', got {criterion!r}")
        if j <= 0:
            raise ValueError(f"model.loss.j must be positive, got {j}")
        self.criterion = criterion
        self.j = j

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.criterion == "cross_entropy":
            return F.cross_entropy(logits, target)
        floor = logits.new_full((logits.shape[0], 1), -self.j)
        competition = torch.logsumexp(torch.cat([logits, floor], dim=1), dim=1)
        return (competition - logits.gather(1, target[:, None]).squeeze(1)).mean()

    def extra_repr(self) -> str:
        return f"criterion={self.criterion}, j={self.j}"
