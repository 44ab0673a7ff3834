"""Building blocks chosen by the config groups: activation, pooling operator and padded convolution."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.geometry import PADDING_MODES, Conv, Pool, conv_padding

Spec = Mapping[str, Any] | str


def _split(spec: Spec, key: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    options = dict(spec)
    return options.pop(key), options


class ScaledTanh(nn.Module):
    """LeCun's squashing function ``A * tanh(S * x)`` with A = 1.7159, S = 2/3."""

    def __init__(self, amplitude: float = 1.7159, slope: float = 2.0 / 3.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self.slope = slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope:.4f}"


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "scaled_tanh": ScaledTanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def make_activation(spec: Spec) -> nn.Module:
    """``{"name": "leaky_relu", "negative_slope": 0.1}`` or ``"relu"`` -> module."""
    name, options = _split(spec, "name")
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    if name in ("relu", "leaky_relu", "elu") and "inplace" not in options:
        options["inplace"] = True
    return ACTIVATIONS[name](**options)


class MinPool2d(nn.MaxPool2d):
    """Min pooling, ``-maxpool(-x)``: the same window geometry as max pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -super().forward(-x)


POOLINGS = ("max", "avg", "min", "lp")
BLOCK_ORDERS = ("conv-act-pool", "conv-pool-act")


def make_pool(spec: Spec, layer: Pool) -> nn.Module:
    """The pooling operator from the group, the window (kernel, stride) from the architecture."""
    kind, options = _split(spec, "type")
    geometry = dict(kernel_size=layer.kernel, stride=layer.stride, ceil_mode=layer.ceil_mode)
    if kind == "max":
        return nn.MaxPool2d(padding=layer.padding, **geometry)
    if kind == "min":
        return MinPool2d(padding=layer.padding, **geometry)
    if kind == "avg":
        return nn.AvgPool2d(padding=layer.padding, **geometry)
    if kind == "lp":
        if layer.padding:
            raise ValueError(f"LP pooling has no padding, but layer '{layer.name}' pads by {layer.padding}")
        return nn.LPPool2d(norm_type=float(options.get("norm_type", 2.0)), **geometry)
    raise ValueError(f"unknown pooling type {kind!r}; choose one of {POOLINGS}")


class ConstantPadConv2d(nn.Conv2d):
    """A ``Conv2d`` that pads with a constant value; its state_dict equals a plain ``Conv2d``'s."""

    def __init__(self, *args: Any, pad: int, value: float, **kwargs: Any) -> None:
        super().__init__(*args, padding=0, **kwargs)
        self.pad = pad
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.pad,) * 4, value=self.value))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, pad={self.pad}, value={self.value}"


def make_conv(in_channels: int, layer: Conv, padding: Mapping[str, Any] | None = None) -> nn.Conv2d:
    """A convolution with the padding group's amount (``size``) and fill (``mode``, ``value``)."""
    padding = dict(padding or {})
    amount = conv_padding(layer, padding.get("size", "model"))
    mode = padding.get("mode", "zeros")
    shape = dict(
        in_channels=in_channels,
        out_channels=layer.out_channels,
        kernel_size=layer.kernel,
        stride=layer.stride,
        dilation=layer.dilation,
        groups=layer.groups,
    )
    if mode not in PADDING_MODES:
        raise ValueError(f"unknown padding mode {mode!r}; choose one of {PADDING_MODES}")
    if mode == "constant":
        return ConstantPadConv2d(**shape, pad=amount, value=float(padding.get("value", 0.0)))
    return nn.Conv2d(**shape, padding=amount, padding_mode=mode)


def build_features(
    layers: tuple[Conv | Pool, ...],
    in_channels: int,
    *,
    pooling: Spec,
    padding: Mapping[str, Any] | None,
    activation: Spec,
    block_order: str = "conv-act-pool",
    norm: Callable[[Conv], nn.Module | None] | None = None,
    norm_after_activation: bool = False,
) -> tuple[nn.Sequential, int]:
    """Turn a layer list into ``conv, [norm], act, [norm], [pool]`` blocks; returns the module and its output channels.

    ``norm(layer)`` gives a normalisation module for a conv layer (or ``None``): before the activation
    (batch norm), or after it with ``norm_after_activation`` (AlexNet's LRN).
    ``block_order="conv-pool-act"`` moves each pool before its block's activation (the ablation that
    lets min pooling see negative values); module indices stay torchvision's either way.
    """
    if block_order not in BLOCK_ORDERS:
        raise ValueError(f"model.net.block_order must be one of {BLOCK_ORDERS}, got {block_order!r}")
    modules: list[nn.Module] = []
    channels = in_channels
    activation_index = 0
    for layer in layers:
        if isinstance(layer, Conv):
            extra = norm(layer) if norm is not None else None
            modules.append(make_conv(channels, layer, padding))
            if extra is not None and not norm_after_activation:
                modules.append(extra)
            activation_index = len(modules)
            modules.append(make_activation(activation))
            if extra is not None and norm_after_activation:
                modules.append(extra)
            channels = layer.out_channels
        else:
            pool = make_pool(pooling, layer)
            if block_order == "conv-pool-act":
                modules.insert(activation_index, pool)
            else:
                modules.append(pool)
    return nn.Sequential(*modules), channels


POOL_TYPES = (nn.MaxPool2d, nn.AvgPool2d, nn.LPPool2d)


def feature_names(
    layers: tuple[Conv | Pool, ...], features: nn.Sequential, prefix: str = "features"
) -> dict[str, str]:
    """Map module paths of a :func:`build_features` result to the architecture's layer names.

    ``features.0`` -> ``conv1``, ``features.2`` -> ``pool1``; activations and norms take their conv's
    name with a suffix (``conv1.relu``). The summary table shows these names.
    """
    convs = iter(layer.name for layer in layers if isinstance(layer, Conv))
    pools = iter(layer.name for layer in layers if isinstance(layer, Pool))
    names: dict[str, str] = {}
    current = ""
    for index, module in features.named_children():
        path = f"{prefix}.{index}"
        if isinstance(module, nn.Conv2d | PartialConv2d):
            current = next(convs)
            names[path] = current
        elif isinstance(module, POOL_TYPES):
            names[path] = next(pools)
        else:
            names[path] = f"{current}.{SHORT_NAMES.get(type(module).__name__, type(module).__name__.lower())}"
    return names


SHORT_NAMES = {"LocalResponseNorm": "lrn", "BatchNorm2d": "bn"}


class LocalResponseNorm(nn.Module):
    """Local response normalisation as the AlexNet paper writes it.

    ``b_i = a_i / (k + alpha * sum_{j in n adjacent maps} a_j^2) ** beta``. The paper's ``alpha`` is
    not divided by ``n``; ``torch.nn.LocalResponseNorm`` divides, so it equals this with ``alpha * n``.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.local_response_norm(x, self.size, alpha=self.alpha * self.size, beta=self.beta, k=self.k)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class PartialConv2d(nn.Module):
    """A convolution where output map ``o`` sees only the input maps ``table[o]`` (LeNet-5's C3).

    Only the connected kernels are parameters (``weight`` is ``connections x k x k``), so the trainable
    count is the paper's; the full ``out x in x k x k`` kernel is assembled for each forward pass.
    Padding follows the padding group: an amount, and a fill mode (zeros, constant, reflect, ...).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        table: Sequence[Sequence[int]],
        *,
        padding: int = 0,
        padding_mode: str = "zeros",
        value: float = 0.0,
    ) -> None:
        super().__init__()
        if len(table) != out_channels:
            raise ValueError(f"connection table has {len(table)} rows for {out_channels} output maps")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"unknown padding mode {padding_mode!r}; choose one of {PADDING_MODES}")
        index = [o * in_channels + i for o, inputs in enumerate(table) for i in inputs]
        if any(not 0 <= i < in_channels for inputs in table for i in inputs):
            raise ValueError(f"connection table refers to input maps outside 0..{in_channels - 1}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (1, 1)
        self.dilation = (1, 1)
        self.padding = (padding, padding)
        self.padding_mode = padding_mode
        self.value = value
        self.table = tuple(tuple(inputs) for inputs in table)
        self.weight = nn.Parameter(torch.empty(len(index), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)
        bound = 1.0 / math.sqrt(kernel_size * kernel_size * max(len(t) for t in table))
        nn.init.uniform_(self.weight, -bound, bound)

    def full_weight(self) -> torch.Tensor:
        """The ``out x in x k x k`` kernel, zero where the table has no connection."""
        k = self.kernel_size[0]
        full = self.weight.new_zeros(self.out_channels * self.in_channels, k, k)
        return full.index_copy(0, self.index, self.weight).view(self.out_channels, self.in_channels, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.padding[0]
        if pad and self.padding_mode in ("zeros", "constant"):
            x = F.pad(x, (pad,) * 4, value=self.value if self.padding_mode == "constant" else 0.0)
        elif pad:
            x = F.pad(x, (pad,) * 4, mode=self.padding_mode)
        return F.conv2d(x, self.full_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={len(self.index)}, padding={self.padding[0]}, padding_mode={self.padding_mode}"
        )


class Subsampling2d(nn.Module):
    """LeNet-5's S layers: pool each map, times a trainable coefficient, plus a trainable bias (per map).

    With ``avg`` pooling this is the paper's operator: the window's inputs are *added* (average times the
    window area). Other pooling types (max, min, lp) keep the trainable coefficient and bias.
    """

    def __init__(self, channels: int, pool: nn.Module, *, scale: float = 1.0) -> None:
        super().__init__()
        self.pool = pool
        self.scale = scale
        self.kernel_size = pool.kernel_size
        self.stride = pool.stride
        self.area = math.prod(_pair(pool.kernel_size))
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x) * self.scale
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={len(self.weight)}, scale={self.scale}"


def make_subsampling(spec: Spec, layer: Pool, channels: int) -> Subsampling2d:
    """Trainable subsampling over ``layer``'s window with the pooling group's operator (``avg`` sums)."""
    pool = make_pool(spec, layer)
    kind, _ = _split(spec, "type")
    return Subsampling2d(channels, pool, scale=float(layer.kernel * layer.kernel) if kind == "avg" else 1.0)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


class EuclideanRBF(nn.Module):
    """Euclidean RBF units: ``y_i = sum_j (x_j - w_ij)^2`` with fixed centres ``w`` (a buffer, not trained)."""

    def __init__(self, centres: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("centres", centres.float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centres = self.centres
        squared = (x * x).sum(1, keepdim=True) - 2 * x @ centres.t() + (centres * centres).sum(1)
        return squared.clamp_min(0.0)

    def extra_repr(self) -> str:
        return f"in_features={self.centres.shape[1]}, out_features={self.centres.shape[0]}, fixed centres"
