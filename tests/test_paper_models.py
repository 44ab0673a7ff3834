"""The paper-faithful models: LeNet-5 (1998) and AlexNet (2012), their layers and exact parameter counts."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hydra.utils import instantiate

from experiments.config import ConfigError, validate
from experiments.models import alexnet as alexnet_module
from experiments.models.alexnet import alexnet, alexnet_bn, alexnet_paper
from experiments.models.architectures import LENET5_CLASSIC
from experiments.models.layers import EuclideanRBF, LocalResponseNorm, PartialConv2d, Subsampling2d
from experiments.models.lenet import C3_TABLE, RBFLoss, digit_bitmaps, lenet5, lenet5_classic
from experiments.models.option_facts import LEARNED, states

from .conftest import compose_config
from .test_models import ACTIVATIONS, POOLINGS

# Table I of LeCun et al. (1998): row = S2 map, column = C3 map.
PAPER_TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""
PADDINGS = [
    {"size": "model", "mode": "zeros"},
    {"size": "same", "mode": "constant", "value": 0.5},
    {"size": "same", "mode": "reflect"},
    {"size": "full", "mode": "zeros"},
    {"size": "same", "mode": "partial"},
]
# The S layers are trainable subsampling: a learned pool (strided_conv) is refused there (tests/test_remedies.py).
CLASSIC_POOLINGS = {name: p for name, p in POOLINGS.items() if not states(p, LEARNED)}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def paper_lenet(**kwargs):
    return lenet5_classic(activation=ACTIVATIONS["scaled_tanh"], pooling=POOLINGS["avg"], **kwargs)


# --- LeNet-5, 1998 -------------------------------------------------------------------------------


def test_classic_lenet5_layer_counts_are_the_papers():
    net = paper_lenet()
    layers = dict(net.features.named_children()) | dict(net.classifier.named_children())
    counts = {name: n_params(layers[name]) for name in ("C1", "S2", "C3", "S4", "C5", "F6", "output")}
    assert counts == {"C1": 156, "S2": 12, "C3": 1_516, "S4": 32, "C5": 48_120, "F6": 10_164, "output": 0}
    assert trainable(net) == n_params(net) == 60_000


def test_c3_connection_table_is_table_one():
    expected = [[c == "X" for c in row] for row in PAPER_TABLE_I.split()]
    found = [[s2 in C3_TABLE[c3] for c3 in range(16)] for s2 in range(6)]
    assert found == expected
    assert sum(len(inputs) for inputs in C3_TABLE) == 60


def test_partial_conv_equals_a_masked_full_convolution():
    torch.manual_seed(0)
    conv = PartialConv2d(6, 16, 5, C3_TABLE)
    weight = conv.full_weight()
    mask = torch.tensor([[i in C3_TABLE[o] for i in range(6)] for o in range(16)])
    assert weight.shape == (16, 6, 5, 5)
    assert (weight[~mask] == 0).all() and (weight[mask] != 0).all()
    x = torch.randn(2, 6, 14, 14)
    torch.testing.assert_close(conv(x), F.conv2d(x, weight, conv.bias))
    conv(x).sum().backward()
    assert conv.weight.grad.shape == (60, 5, 5)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular", "zeros"])
def test_partial_conv_pads_like_conv2d(mode):
    torch.manual_seed(0)
    conv = PartialConv2d(6, 16, 5, C3_TABLE, padding=2, padding_mode=mode, value=0.0)
    reference = torch.nn.Conv2d(6, 16, 5, padding=2, padding_mode=mode if mode != "constant" else "zeros")
    with torch.no_grad():
        reference.weight.copy_(conv.full_weight())
        reference.bias.copy_(conv.bias)
    x = torch.randn(1, 6, 14, 14)
    torch.testing.assert_close(conv(x), reference(x))


def test_subsampling_sums_the_window_times_a_coefficient_plus_bias():
    net = paper_lenet()
    s2 = net.features.S2
    assert isinstance(s2, Subsampling2d)
    with torch.no_grad():
        s2.weight.fill_(0.5)
        s2.bias.fill_(1.0)
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 6, 1, 1)
    expected = 0.5 * torch.tensor([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]]) + 1
    torch.testing.assert_close(s2(x)[0, 0], expected)


def test_rbf_output_has_fixed_7x12_bitmaps():
    bitmaps = digit_bitmaps()
    assert bitmaps.shape == (10, 84)
    assert set(bitmaps.unique().tolist()) == {-1.0, 1.0}
    distances = torch.cdist(bitmaps, bitmaps, p=0)  # Hamming distances between the digits
    assert distances[~torch.eye(10, dtype=torch.bool)].min() >= 8
    rbf = paper_lenet().classifier.output
    assert isinstance(rbf, EuclideanRBF)
    assert rbf.centres.shape == (10, 84) and not rbf.centres.requires_grad
    assert "centres" in dict(rbf.named_buffers()) and n_params(rbf) == 0


def test_classic_logits_are_negative_squared_distances():
    torch.manual_seed(0)
    net = paper_lenet().eval()
    x = torch.randn(3, 1, 32, 32)
    f6 = net.classifier.F6_act(net.classifier.F6(net.features(x).flatten(1)))
    expected = -((f6[:, None, :] - digit_bitmaps()[None]) ** 2).sum(-1)
    logits = net(x)
    assert logits.shape == (3, 10)
    torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-3)


def test_rbf_losses():
    torch.manual_seed(0)
    logits, target = -torch.rand(4, 10) * 50, torch.tensor([0, 3, 9, 5])
    torch.testing.assert_close(RBFLoss()(logits, target), F.cross_entropy(logits, target))
    j = 2.0
    y = -logits
    manual = (
        y[torch.arange(4), target] + torch.log(torch.exp(torch.tensor(-j)) + torch.exp(-y).sum(1))
    ).mean()
    torch.testing.assert_close(RBFLoss("map", j=j)(logits, target), manual)
    torch.testing.assert_close(RBFLoss("map", j=1e4)(logits, target), F.cross_entropy(logits, target))
    with pytest.raises(ValueError, match=r"model\.loss\.criterion"):
        RBFLoss("mse")


def test_only_average_pooling_sums_the_window():
    class Mean(torch.nn.AvgPool2d):  # any average pool, also one the user adds
        pass

    scales = {
        name: lenet5_classic(pooling=pooling).features.S2.scale
        for name, pooling in {**CLASSIC_POOLINGS, "mean": Mean}.items()
    }
    assert scales == {"avg": 4.0, "mean": 4.0, "lp": 1.0, "max": 1.0, "min": 1.0, "blurmax": 1.0, "none": 1.0}


def test_classic_lenet5_takes_its_layers_and_refuses_another_structure():
    wider = (LENET5_CLASSIC[0], LENET5_CLASSIC[1], replace(LENET5_CLASSIC[2], kernel=3), *LENET5_CLASSIC[3:])
    net = lenet5_classic(layers=wider, connections="full", output="linear", image_size=28)
    assert net.features.C3.kernel_size == (3, 3) and net(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"model\.net\.layers.*Conv, Pool, Conv, Pool, Conv"):
        lenet5_classic(layers=LENET5_CLASSIC[:4])


def test_classic_lenet5_options_fail_clearly():
    with pytest.raises(ValueError, match=r"model\.net\.output=rbf"):
        lenet5_classic(num_classes=17)
    assert n_params(lenet5_classic(num_classes=17, output="linear")) == 60_000 + 84 * 17 + 17
    assert n_params(paper_lenet(connections="full")) == 60_000 - 1_516 + 2_416
    with pytest.raises(ValueError, match=r"model\.net\.block_order"):
        lenet5_classic(block_order="pool-conv")


@pytest.mark.parametrize(("pooling", "padding"), itertools.product(CLASSIC_POOLINGS, PADDINGS))
def test_classic_lenet5_trains_with_every_pooling_and_padding(pooling, padding):
    torch.manual_seed(0)
    for block_order in ("conv-act-pool", "conv-pool-act"):
        net = lenet5_classic(
            pooling=CLASSIC_POOLINGS[pooling],
            padding=padding,
            activation=ACTIVATIONS["tanh"],
            block_order=block_order,
        )
        loss = RBFLoss("map")(net(torch.randn(4, 1, 32, 32)), torch.arange(4))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_classic_lenet5_geometry_is_checked_before_torch():
    assert instantiate(compose_config("model=lenet5_classic").model.features) == LENET5_CLASSIC
    with pytest.raises(ConfigError, match=r"layer 'C5'.*smallest input this network accepts is 32x32"):
        validate(compose_config("model=lenet5_classic", "image_size=28"))


# --- AlexNet, 2012 -------------------------------------------------------------------------------

SEED_TABLE = {
    "conv1": 34_944,
    "conv2": 614_656,
    "conv3": 885_120,
    "conv4": 1_327_488,
    "conv5": 884_992,
    "fc6": 37_748_736,
    "fc7": 16_777_216,
    "fc8": 4_096_000,
}


def layer_counts(net: torch.nn.Module) -> dict[str, int]:
    modules = dict(net.named_modules())
    return {name: n_params(modules[path]) for path, name in net.layer_names.items() if name in SEED_TABLE}


def test_alexnet_paper_without_fc_bias_reproduces_the_seed_table():
    net = alexnet_paper(fc_bias=False)
    assert layer_counts(net) == SEED_TABLE
    assert n_params(net) == sum(SEED_TABLE.values()) == 62_369_152


def test_alexnet_paper_counts_with_bias_and_two_towers():
    assert n_params(alexnet_paper()) == 62_369_152 + 4096 + 4096 + 1000 == 62_378_344
    two = alexnet_paper(groups=2)
    assert [m.groups for m in two.features if isinstance(m, torch.nn.Conv2d)] == [1, 2, 1, 2, 2]
    assert n_params(two) == 60_965_224


def test_alexnet_paper_layers_and_geometry():
    net = alexnet_paper(num_classes=17)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs] == [
        (96, 11, 4, 0),
        (256, 5, 1, 2),
        (384, 3, 1, 1),
        (384, 3, 1, 1),
        (256, 3, 1, 1),
    ]
    lrn = [i for i, m in enumerate(net.features) if isinstance(m, LocalResponseNorm)]
    # LRN follows conv1's and conv2's ReLU and precedes their pooling
    assert [type(net.features[i - 1]).__name__ for i in lrn] == ["ReLU", "ReLU"]
    assert [type(net.features[i + 1]).__name__ for i in lrn] == ["MaxPool2d", "MaxPool2d"]
    pools = [m for m in net.features if isinstance(m, torch.nn.MaxPool2d)]
    assert [(p.kernel_size, p.stride) for p in pools] == [(3, 2)] * 3
    assert [m.p for m in net.classifier if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    with torch.no_grad():
        assert net.features(torch.zeros(1, 3, 227, 227)).shape == (1, 256, 6, 6)
        assert net.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 5, 5)
        assert net(torch.zeros(1, 3, 224, 224)).shape == (1, 17)  # 224: the adaptive pool restores 6x6


def test_alexnet_paper_initialisation():
    torch.manual_seed(0)
    net = alexnet_paper()
    modules = dict(net.named_modules())
    for path, name in net.layer_names.items():
        if name in SEED_TABLE:
            layer = modules[path]
            assert abs(layer.weight.std().item() - 0.01) < 0.001
            assert layer.weight.mean().abs().item() < 0.001
            expected_bias = 1.0 if name in ("conv2", "conv4", "conv5", "fc6", "fc7", "fc8") else 0.0
            assert (layer.bias == expected_bias).all(), name


def test_lrn_matches_torch_local_response_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 96, 7, 7) * 10
    ours = LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)
    # torch divides alpha by n; the paper does not.
    torch.testing.assert_close(ours, torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(x))
    squares = F.pad(x.pow(2), (0, 0, 0, 0, 2, 2))  # zero maps beyond the edges
    window = sum(squares[:, i : i + 96] for i in range(5))
    torch.testing.assert_close(ours, x / (2.0 + 1e-4 * window) ** 0.75)


def test_alexnet_bn_layers_and_count():
    net = alexnet_bn(num_classes=17)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds.count("BatchNorm2d") == 5 and kinds[:3] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert [type(m).__name__ for m in net.classifier][:4] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert {m.p for m in net.modules() if isinstance(m, torch.nn.Dropout)} == {0.4}
    convs = 34_944 + 614_656 + 885_120 + 1_327_488 + 884_992
    bn = 2 * (96 + 256 + 384 + 384 + 256) + 2 * (4096 + 4096)
    fc = 37_752_832 + 16_781_312 + 4096 * 17 + 17
    assert n_params(net) == convs + bn + fc == 58_370_129
    with torch.no_grad():
        assert net.features(torch.zeros(1, 3, 224, 224)).shape == (1, 256, 6, 6)


@pytest.mark.parametrize("builder", [alexnet_paper, alexnet_bn])
@pytest.mark.parametrize(
    "options",
    [
        {"pooling": POOLINGS["min"], "block_order": "conv-pool-act", "groups": 2},
        {"pooling": POOLINGS["lp"], "padding": PADDINGS[2]},
    ],
    ids=["min-pool-first-two-towers", "lp-reflect-same"],
)
def test_alexnet_variants_train_with_group_options(builder, options):
    torch.manual_seed(0)
    net = builder(num_classes=5, image_size=67, activation=ACTIVATIONS["leaky_relu"], **options)
    loss = F.cross_entropy(net(torch.randn(2, 3, 67, 67)), torch.tensor([0, 4]))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_alexnet_options_fail_clearly():
    with pytest.raises(ValueError, match=r"model\.net\.groups"):
        alexnet_paper(groups=3)
    with pytest.raises(ValueError, match=r"model\.net\.norm"):
        alexnet_paper(norm="layer")


def test_torchvision_alexnet_unchanged_and_loads_a_saved_state_dict(tmp_path):
    reference = torchvision.models.alexnet(num_classes=1000)
    path = tmp_path / "alexnet.pth"
    torch.save(reference.state_dict(), path)
    net = alexnet(weights=path, num_classes=10)
    assert n_params(alexnet()) == 61_100_840
    assert n_params(net) == 57_044_810
    torch.testing.assert_close(net.features[0].weight, reference.features[0].weight)
    torch.testing.assert_close(net.classifier[4].weight, reference.classifier[4].weight)


def test_imagenet_weights_without_file_or_network_fail_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FileNotFoundError, match=r"model\.weights=/path/to/alexnet-owt-7be5be79\.pth"):
        alexnet(weights="IMAGENET1K_V1", num_classes=10)
    cached = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    cached.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet().state_dict(), cached)
    assert alexnet_module.torchvision_weights_file() == cached
    assert n_params(alexnet(weights="IMAGENET1K_V1", num_classes=10)) == 57_044_810


def test_modern_lenet5_unchanged():
    assert n_params(lenet5()) == 61_706
