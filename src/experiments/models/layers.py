"""Building blocks chosen by the config groups: activation, pooling operator and the feature extractor
(the padded convolutions are :mod:`experiments.models.convs`, the pooling remedies :mod:`experiments.models.pools`).

A pooling option is a factory (a class or a ``functools.partial``, as Hydra's ``_partial_: true`` makes
from ``conf/pooling/<name>.yaml``) that the builders call with the architecture's window:
``kernel_size``, ``stride``, ``ceil_mode`` and ``padding`` (only when the window pads), and ``channels``
and ``activation`` where its signature takes them (a learned pool). An activation
option is a factory called with no arguments, once per activation module. Nothing here lists the
options by name: a new one is a YAML file, plus a class below when torch has none.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from experiments.models.choices import BLOCK_ORDERS
from experiments.models.convs import cached_ratio, make_conv
from experiments.models.geometry import PADDING_MODES, Conv, Layer, Pool
from experiments.models.option_facts import without_facts

# ``factory(kernel_size=..., stride=..., ceil_mode=..., [padding=...])`` -> a pooling module.
PoolFactory = Callable[..., nn.Module]
# ``factory()`` -> a fresh activation module.
ActivationFactory = Callable[[], nn.Module]

# Short names of norm and activation modules in the layer names (``conv1.lrn``); others: the class, lower case.
SHORT_NAMES = {"LocalResponseNorm": "lrn", "BatchNorm2d": "bn"}
# The builders' default activation (what ``conf/activation/relu.yaml`` makes).
RELU: ActivationFactory = partial(nn.ReLU, inplace=True)


def describe(factory: Any) -> str:
    """``torch.nn.MaxPool2d`` or ``torch.nn.LeakyReLU(negative_slope=0.01)``: a factory for messages."""
    if isinstance(factory, partial):
        options = [*map(repr, factory.args), *(f"{k}={v!r}" for k, v in factory.keywords.items())]
        return f"{describe(factory.func)}({', '.join(options)})"
    return f"{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', repr(factory))}"


def _build(factory: Any, group: str, where: str, **kwargs: Any) -> nn.Module:
    """Call a group's factory (minus the option's facts); a wrong factory or argument names the group and the layer."""
    factory = without_facts(factory)
    if not callable(factory):
        raise TypeError(
            f"{group} must be a callable that returns a module (a class such as torch.nn.ReLU, or a "
            f"functools.partial), got {factory!r}; in a config, choose the group's option: {group}=<name>"
        )
    try:
        module = factory(**kwargs)
    except (TypeError, ValueError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{group} {describe(factory)} at {where}: {error}") from error
    if not isinstance(module, nn.Module):
        raise TypeError(f"{group} {describe(factory)} returned {type(module).__name__}, not a torch module")
    return module


def short_name(module: nn.Module) -> str:
    name = type(module).__name__
    return SHORT_NAMES.get(name, name.lower())


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


def make_activation(activation: ActivationFactory, where: str = "an activation") -> nn.Module:
    """A fresh module from the activation group's factory, e.g. ``partial(nn.LeakyReLU, negative_slope=0.1)``."""
    return _build(activation, "activation", where)


class MinPool2d(nn.MaxPool2d):
    """Min pooling, ``-maxpool(-x)``: the same window geometry as max pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -super().forward(-x)


def lp_pool2d(
    norm_type: float = 2.0,
    *,
    kernel_size: int,
    stride: int | None = None,
    ceil_mode: bool = False,
    padding: int = 0,
) -> nn.LPPool2d:
    """Power-average pooling ``(sum x^p)^(1/p)``; ``torch.nn.LPPool2d`` has no padding, so a padded window is refused."""
    if padding:
        raise ValueError(f"LP pooling has no padding, but the window pads by {padding}")
    return nn.LPPool2d(float(norm_type), kernel_size, stride=stride, ceil_mode=ceil_mode)


def make_pool(
    pooling: PoolFactory, layer: Pool, channels: int | None = None, activation: ActivationFactory | None = None
) -> nn.Module:
    """The pooling operator from the group, the window (kernel, stride) from the architecture.

    A factory that takes ``channels`` (a learned pool) gets the map count, one that takes ``activation``
    a fresh module from ``activation`` (where given).
    """
    window: dict[str, Any] = dict(kernel_size=layer.kernel, stride=layer.stride, ceil_mode=layer.ceil_mode)
    if layer.padding:
        window["padding"] = layer.padding
    try:
        takes = inspect.signature(without_facts(pooling)).parameters
    except (TypeError, ValueError):  # no signature to read: the window alone
        takes = {}
    if "channels" in takes:
        window["channels"] = channels
    if "activation" in takes and activation is not None:
        window["activation"] = make_activation(activation, f"layer '{layer.name}'")
    return _build(pooling, "pooling", f"layer '{layer.name}'", **window)


class Features(NamedTuple):
    """What :func:`build_features` built: the module, its output channels and each child's layer name.

    The names are recorded while building, so any pooling or activation class (one the user adds,
    too) is named in the layer table: ``{"0": "conv1", "1": "conv1.relu", "2": "pool1", ...}``.
    """

    module: nn.Sequential
    channels: int
    names: dict[str, str]

    def layer_names(self, prefix: str = "features") -> dict[str, str]:
        """Module paths to layer names: ``features.0`` -> ``conv1``, ``features.1`` -> ``conv1.relu``."""
        return {f"{prefix}.{index}": name for index, name in self.names.items()}


def build_features(
    layers: Sequence[Layer],
    in_channels: int,
    *,
    pooling: PoolFactory,
    padding: Mapping[str, Any] | None,
    activation: ActivationFactory,
    block_order: str = "conv-act-pool",
    norm: Callable[[Conv], nn.Module | None] | None = None,
    norm_after_activation: bool = False,
) -> Features:
    """Turn a layer list into ``conv, [norm], act, [norm], [pool]`` blocks (see :class:`Features`).

    ``norm(layer)`` gives a normalisation module for a conv layer (or ``None``): before the activation
    (batch norm), or after it with ``norm_after_activation`` (AlexNet's LRN).
    ``block_order="conv-pool-act"`` moves each pool before its block's activation; module indices stay
    torchvision's either way. With max or min pooling and a monotone activation both orders are the same
    function (:mod:`experiments.sweeps.identical`); they differ for avg/Lp pooling and gelu/silu.
    """
    if block_order not in BLOCK_ORDERS:
        raise ValueError(f"model.net.block_order must be one of {BLOCK_ORDERS}, got {block_order!r}")
    built: list[tuple[str, nn.Module]] = []
    channels = in_channels
    activation_index = 0
    for layer in layers:
        if isinstance(layer, Conv):
            extra = norm(layer) if norm is not None else None
            built.append((layer.name, make_conv(channels, layer, padding)))
            if extra is not None and not norm_after_activation:
                built.append((f"{layer.name}.{short_name(extra)}", extra))
            activation_index = len(built)
            act = make_activation(activation, f"layer '{layer.name}'")
            built.append((f"{layer.name}.{short_name(act)}", act))
            if extra is not None and norm_after_activation:
                built.append((f"{layer.name}.{short_name(extra)}", extra))
            channels = layer.out_channels
        elif isinstance(layer, Pool):  # in conv-pool-act the block's activation follows the pool already
            after = activation if block_order == "conv-act-pool" else None
            pool = (layer.name, make_pool(pooling, layer, channels, after))
            if block_order == "conv-pool-act":
                built.insert(activation_index, pool)
            else:
                built.append(pool)
        else:
            raise TypeError(f"a layer list holds Conv and Pool specs, got {layer!r}")
    names = {str(index): name for index, (name, _) in enumerate(built)}
    return Features(nn.Sequential(*(module for _, module in built)), channels, names)


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
        self.register_buffer("ratio", torch.ones(0, 0), persistent=False)  # padding_mode=partial
        bound = 1.0 / math.sqrt(kernel_size * kernel_size * max(len(t) for t in table))
        nn.init.uniform_(self.weight, -bound, bound)

    def full_weight(self) -> torch.Tensor:
        """The ``out x in x k x k`` kernel, zero where the table has no connection."""
        k = self.kernel_size[0]
        full = self.weight.new_zeros(self.out_channels * self.in_channels, k, k)
        return full.index_copy(0, self.index, self.weight).view(self.out_channels, self.in_channels, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad, mode = self.padding[0], self.padding_mode
        if mode == "partial":  # Liu et al. 2018: re-weighted zero padding, the bias after
            out = F.conv2d(x, self.full_weight(), None, padding=pad)
            out = out * cached_ratio(self, x).to(out.dtype)
            return out + self.bias.view(1, -1, 1, 1)
        if pad and mode in ("zeros", "constant"):
            x = F.pad(x, (pad,) * 4, value=self.value if mode == "constant" else 0.0)
        elif pad:
            x = F.pad(x, (pad,) * 4, mode=mode)
        return F.conv2d(x, self.full_weight(), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"connections={len(self.index)}, padding={self.padding[0]}, padding_mode={self.padding_mode}"
        )


class Subsampling2d(nn.Module):
    """LeNet-5's S layers: pool each map, times a trainable coefficient, plus a trainable bias (per map).

    With average pooling this is the paper's operator: the window's inputs are *added* (``scale`` is the
    window area). Other operators (max, min, lp, any other) keep the trainable coefficient and bias.
    """

    def __init__(
        self, channels: int, pool: nn.Module, *, kernel_size: int, stride: int, scale: float = 1.0
    ) -> None:
        super().__init__()
        self.pool = pool
        self.scale = scale
        self.kernel_size = kernel_size  # the window, for the layer table's receptive field
        self.stride = stride
        self.area = kernel_size * kernel_size
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x) * self.scale
        return pooled * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"channels={len(self.weight)}, scale={self.scale}"


def make_subsampling(pooling: PoolFactory, layer: Pool, channels: int) -> Subsampling2d:
    """Trainable subsampling over ``layer``'s window with the pooling group's operator.

    An average pool (``torch.nn.AvgPool2d`` or a subclass) is scaled by the window area: the paper's sum.
    """
    pool = make_pool(pooling, layer, channels)
    scale = float(layer.kernel * layer.kernel) if isinstance(pool, nn.AvgPool2d) else 1.0
    return Subsampling2d(channels, pool, kernel_size=layer.kernel, stride=layer.stride, scale=scale)


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
