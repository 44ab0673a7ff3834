"""The model builders: parameter counts, torchvision compatibility, pooling and padding semantics."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision

from experiments.config import ACTIVATION_NAMES, POOLING_TYPES
from experiments.models.alexnet import alexnet
from experiments.models.architectures import ALEXNET, LENET5
from experiments.models.geometry import Pool, smallest_input
from experiments.models.layers import ACTIVATIONS, POOLINGS, ScaledTanh, build_features, make_pool
from experiments.models.lenet import lenet5

PADDINGS = {
    "valid": {"size": "valid", "mode": "zeros"},
    "same": {"size": "same", "mode": "zeros"},
    "zeros": {"size": "same", "mode": "zeros"},
    "constant": {"size": "same", "mode": "constant", "value": 0.5},
    "reflect": {"size": "same", "mode": "reflect"},
    "replicate": {"size": "same", "mode": "replicate"},
    "circular": {"size": "same", "mode": "circular"},
}
WORKED_EXAMPLE = torch.tensor([[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]], dtype=torch.float)[
    None, None
]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_name_lists_used_by_the_torch_free_check_match_the_builders():
    assert set(POOLING_TYPES) == set(POOLINGS)
    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("max", [[9, 7], [8, 6]]), ("avg", [[4.25, 4.25], [4.25, 3.5]]), ("min", [[2, 1], [1, 2]])],
)
def test_seed_worked_example(kind, expected):
    pooled = make_pool(kind, Pool("S2", kernel=2, stride=2))(WORKED_EXAMPLE)
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


@pytest.mark.parametrize("pooling", POOLING_TYPES)
def test_pooling_type_never_changes_the_geometry(pooling):
    lenet = lenet5(pooling=pooling)
    pools = [m for m in lenet.features if not isinstance(m, torch.nn.Conv2d | torch.nn.ReLU)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(2, 2), (2, 2)]
    net = alexnet(num_classes=10, pooling=pooling)
    pools = [m for m in net.features if not isinstance(m, torch.nn.Conv2d | torch.nn.ReLU)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3
    assert net.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 6, 6)


def test_min_pooling_is_negated_max_pooling():
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(
        make_pool("min", Pool("p", 3, 2))(x), -torch.nn.functional.max_pool2d(-x, 3, 2)
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
    for a, b in itertools.combinations(["zeros", "constant", "reflect", "replicate", "circular"], 2):
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


@pytest.mark.parametrize("pooling", POOLING_TYPES)
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_every_lenet5_combination_builds_and_trains(pooling, padding):
    torch.manual_seed(0)
    for activation in ACTIVATION_NAMES:
        net = lenet5(pooling=pooling, padding=PADDINGS[padding], activation=activation)
        _train_step(net, torch.randn(4, 1, 32, 32), 10)


@pytest.mark.parametrize("pooling", POOLING_TYPES)
@pytest.mark.parametrize("padding", list(PADDINGS))
def test_every_alexnet_feature_combination_builds_and_trains(pooling, padding):
    """The pooling, padding and activation groups change ``features``: the whole product is trained."""
    torch.manual_seed(0)
    for activation in ACTIVATION_NAMES:
        features, channels = build_features(
            ALEXNET, 3, pooling=pooling, padding=PADDINGS[padding], activation=activation
        )
        head = torch.nn.Sequential(
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(channels, 10)
        )
        side = smallest_input(ALEXNET, PADDINGS[padding]["size"])
        _train_step(torch.nn.Sequential(features, head), torch.randn(2, 3, side, side), 10)


@pytest.mark.parametrize(
    "options",
    [{"pooling": p} for p in POOLING_TYPES]
    + [{"padding": PADDINGS[p]} for p in PADDINGS]
    + [{"activation": a} for a in ACTIVATION_NAMES],
    ids=lambda o: "-".join(str(v if not isinstance(v, dict) else v["mode"] + v["size"]) for v in o.values()),
)
def test_full_alexnet_trains_with_each_group_option(options):
    torch.manual_seed(0)
    side = smallest_input(ALEXNET, options.get("padding", {}).get("size", "model"))
    _train_step(alexnet(num_classes=10, image_size=side, **options), torch.randn(2, 3, side, side), 10)


def test_lenet_features_follow_the_layer_list():
    convs = [m for m in lenet5().features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [
        layer.out_channels for layer in LENET5 if hasattr(layer, "out_channels")
    ]
