"""The model builders: parameter counts, torchvision compatibility, pooling and padding semantics."""

from __future__ import annotations

import itertools
from functools import partial

import pytest
import torch
import torchvision
from hydra.utils import instantiate
from omegaconf import OmegaConf

from experiments.config import compose, config_dir
from experiments.models.alexnet import alexnet
from experiments.models.architectures import ALEXNET, LENET5
from experiments.models.geometry import Conv, Pool, smallest_input
from experiments.models.layers import (
    MinPool2d,
    PartialConv2d,
    ScaledTanh,
    build_features,
    lp_pool2d,
    make_activation,
    make_pool,
)
from experiments.models.lenet import lenet5
from experiments.models.option_facts import KEEPS_SIZE, states
from experiments.models.pools import BlurMaxPool2d, StridedConv2d


def group_options(group: str) -> dict[str, object]:
    """Each option of a config group, instantiated as a run does: ``{"max": partial(MaxPool2d)}``."""
    return {p.stem: instantiate(OmegaConf.load(p)) for p in sorted((config_dir() / group).glob("*.yaml"))}


POOLINGS = group_options("pooling")
ACTIVATIONS = group_options("activation")

PADDINGS = {
    "valid": {"size": "valid", "mode": "zeros"},
    "same": {"size": "same", "mode": "zeros"},
    "zeros": {"size": "same", "mode": "zeros"},
    "constant": {"size": "same", "mode": "constant", "value": 0.5},
    "reflect": {"size": "same", "mode": "reflect"},
    "replicate": {"size": "same", "mode": "replicate"},
    "circular": {"size": "same", "mode": "circular"},
    "partial": {"size": "same", "mode": "partial"},
}
WORKED_EXAMPLE = torch.tensor([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]], dtype=torch.float)[
    None, None
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_group_options_are_factories_of_the_documented_modules():
    assert {name: type(make_pool(f, Pool("p", 2, 2), channels=3)) for name, f in POOLINGS.items()} == {
        "avg": torch.nn.AvgPool2d,
        "blurmax": BlurMaxPool2d,
        "lp": torch.nn.LPPool2d,
        "max": torch.nn.MaxPool2d,
        "min": MinPool2d,
        "none": torch.nn.Identity,
        "strided_conv": StridedConv2d,
    }
    built = {name: make_activation(factory) for name, factory in ACTIVATIONS.items()}  # facts dropped
    assert {name: type(module) for name, module in built.items()} == {
        "elu": torch.nn.ELU,
        "gelu": torch.nn.GELU,
        "leaky_relu": torch.nn.LeakyReLU,
        "relu": torch.nn.ReLU,
        "scaled_tanh": ScaledTanh,
        "sigmoid": torch.nn.Sigmoid,
        "silu": torch.nn.SiLU,
        "tanh": torch.nn.Tanh,
    }
    assert all(built[name].inplace for name in ("relu", "leaky_relu", "elu"))
    assert built["leaky_relu"].negative_slope == 0.01
    assert make_activation(ACTIVATIONS["relu"]) is not make_activation(ACTIVATIONS["relu"])  # fresh each call


def test_lp_norm_type_comes_from_the_option_and_padding_is_refused_by_layer_name():
    config = OmegaConf.merge(OmegaConf.load(config_dir() / "pooling" / "lp.yaml"), {"norm_type": 3})
    assert make_pool(instantiate(config), Pool("S2", 2, 2)).norm_type == 3.0
    with pytest.raises(ValueError, match=r"layer 'p1'.*LP pooling has no padding"):
        make_pool(lp_pool2d, Pool("p1", kernel=3, stride=2, padding=1))


def test_builders_take_classes_and_partials_and_refuse_names():
    net = lenet5(pooling=torch.nn.AvgPool2d, activation=partial(torch.nn.LeakyReLU, negative_slope=0.2))
    assert isinstance(net.features[2], torch.nn.AvgPool2d)
    assert net.features[1].negative_slope == 0.2 and net.features[1] is not net.features[4]
    with pytest.raises(TypeError, match=r"pooling must be a callable.*pooling=<name>"):
        lenet5(pooling="max")
    with pytest.raises(TypeError, match=r"activation .*Conv.* returned Conv, not a torch module"):
        lenet5(activation=partial(Conv, "x", 1, 1))


def test_an_unknown_pooling_class_is_named_in_the_layer_names():
    class Median(torch.nn.Module):
        def __init__(self, kernel_size: int, stride: int, ceil_mode: bool) -> None:
            super().__init__()
            self.kernel_size, self.stride = kernel_size, stride

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (
                x.unfold(2, self.kernel_size, self.stride)
                .unfold(3, self.kernel_size, self.stride)
                .flatten(-2)
                .median(-1)
                .values
            )

    net = lenet5(pooling=Median, activation=torch.nn.Tanh)
    assert {net.layer_names[f"features.{i}"] for i in (2, 5)} == {"S2", "S4"}
    assert net.layer_names["features.1"] == "C1.tanh"
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("max", [[9, 7], [8, 6]]), ("avg", [[4.25, 4.25], [4.25, 3.5]]), ("min", [[2, 1], [1, 2]])],
)
def test_seed_worked_example(kind, expected):
    pooled = make_pool(POOLINGS[kind], Pool("S2", kernel=2, stride=2))(WORKED_EXAMPLE)
    assert pooled[0, 0].tolist() == expected


def test_modern_lenet5_has_61706_parameters():
    assert n_params(lenet5(num_classes=10, in_channels=1, image_size=32)) == 61_706


def test_alexnet_matches_torchvision_state_dict_and_count():
    ours, theirs = alexnet(num_classes=1000), torchvision.models.alexnet()
    assert n_params(ours) == 61_100_840
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    ours.load_state_dict(theirs.state_dict())
    ours.eval(), theirs.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize(("classes", "count"), [(10, 57_044_810), (17, 57_073_489)])
def test_alexnet_heads(classes, count):
    assert n_params(alexnet(num_classes=classes)) == count


def windows(net: torch.nn.Module, names: tuple[str, ...]) -> list[tuple[int, int]]:
    """(kernel, stride) of the modules at the pool layers ``names`` (a strided conv's are pairs)."""
    pools = [m for path, m in net.named_modules() if net.layer_names.get(path) in names]
    return [tuple(v[0] if isinstance(v, tuple) else v for v in (p.kernel_size, p.stride)) for p in pools]


@pytest.mark.parametrize("pooling", [p for p in POOLINGS if not states(POOLINGS[p], KEEPS_SIZE)])
def test_pooling_type_never_changes_the_geometry(pooling):
    """Except pooling=none, which states keeps_size (tests/test_remedies.py checks its geometry)."""
    lenet = lenet5(pooling=POOLINGS[pooling])
    assert windows(lenet, ("S2", "S4")) == [(2, 2), (2, 2)]
    net = alexnet(num_classes=10, pooling=POOLINGS[pooling])
    assert windows(net, ("pool1", "pool2", "pool5")) == [(3, 2)] * 3
    assert net.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 6, 6)


def test_min_pooling_is_negated_max_pooling():
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(
        make_pool(MinPool2d, Pool("p", 3, 2))(x), -torch.nn.functional.max_pool2d(-x, 3, 2)
    )


def test_padding_same_keeps_size_and_modes_fill_differently():
    x = torch.randn(1, 1, 12, 12)
    outputs = {}
    for name, padding in PADDINGS.items():
        torch.manual_seed(0)
        conv = lenet5(padding=padding).features[0]
        outputs[name] = conv(x)
    assert outputs["valid"].shape[-1] == 8 and outputs["same"].shape[-1] == 12
    torch.testing.assert_close(outputs["same"], outputs["zeros"])
    modes = ["zeros", "constant", "reflect", "replicate", "circular", "partial"]
    for a, b in itertools.combinations(modes, 2):
        assert not torch.allclose(outputs[a], outputs[b]), (a, b)


def test_scaled_tanh_is_lecuns_function():
    x = torch.linspace(-3, 3, 7)
    torch.testing.assert_close(ScaledTanh()(x), 1.7159 * torch.tanh(2 * x / 3))


def test_block_order_moves_pool_before_activation_and_keeps_torchvision_keys():
    net = alexnet(num_classes=10, block_order="conv-pool-act")
    assert isinstance(net.features[1], torch.nn.MaxPool2d) and isinstance(net.features[2], torch.nn.ReLU)
    assert net.state_dict().keys() == torchvision.models.alexnet(num_classes=10).state_dict().keys()


def _train_step(net: torch.nn.Module, x: torch.Tensor, classes: int) -> None:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(net(x), torch.arange(len(x)) % classes)
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    optimizer.step()


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_every_lenet5_combination_builds_and_trains(pooling, padding):
    torch.manual_seed(0)
    for activation in ACTIVATIONS.values():
        net = lenet5(pooling=POOLINGS[pooling], padding=PADDINGS[padding], activation=activation)
        _train_step(net, torch.randn(4, 1, 32, 32), 10)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_every_alexnet_feature_combination_builds_and_trains(pooling, padding):
    """The pooling, padding and activation groups change ``features``: the whole product is trained."""
    torch.manual_seed(0)
    for activation in ACTIVATIONS.values():
        features, channels, _ = build_features(
            ALEXNET, 3, pooling=POOLINGS[pooling], padding=PADDINGS[padding], activation=activation
        )
        head = torch.nn.Sequential(
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 10)
        )
        side = smallest_input(ALEXNET, PADDINGS[padding]["size"])
        _train_step(torch.nn.Sequential(features, head), torch.randn(2, 3, side, side), 10)


@pytest.mark.parametrize(
    "options",
    [{"pooling": p} for p in POOLINGS]
    + [{"padding": PADDINGS[p]} for p in PADDINGS]
    + [{"activation": a} for a in ACTIVATIONS],
    ids=lambda o: "-".join(str(v if not isinstance(v, dict) else v["mode"] + v["size"]) for v in o.values()),
)
def test_full_alexnet_trains_with_each_group_option(options):
    torch.manual_seed(0)
    side = smallest_input(ALEXNET, options.get("padding", {}).get("size", "model"))
    factories = {"pooling": POOLINGS, "activation": ACTIVATIONS}
    options = {k: factories[k][v] if k in factories else v for k, v in options.items()}
    _train_step(alexnet(num_classes=10, image_size=side, **options), torch.randn(2, 3, side, side), 10)


def test_lenet_features_follow_the_layer_list():
    convs = [m for m in lenet5().features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [
        layer.out_channels for layer in LENET5 if hasattr(layer, "out_channels")
    ]


def test_builders_take_their_layer_list_from_the_config():
    wider = (Conv("C1", 8, kernel=5), *LENET5[1:])
    net = lenet5(layers=wider)
    assert net.features[0].out_channels == 8 and net.features[3].in_channels == 8
    assert net.layer_names["features.0"] == "C1"


@pytest.mark.parametrize("model", sorted(p.stem for p in (config_dir() / "model").glob("*.yaml")))
def test_every_model_config_builds_from_its_own_layer_list(model):
    cfg = compose([f"model={model}", "paths.output_dir=unused"])
    layers = instantiate(cfg.model.features)
    assert all(isinstance(layer, Conv | Pool) for layer in layers)
    net = instantiate(cfg.model.net)
    # Every layer of the list is a module of the network, named as in the list.
    assert {layer.name for layer in layers} <= set(net.layer_names.values())
    convs = [m for m in net.features.modules() if isinstance(m, torch.nn.Conv2d | PartialConv2d)]
    assert [c.out_channels for c in convs] == [
        layer.out_channels for layer in layers if isinstance(layer, Conv)
    ]
