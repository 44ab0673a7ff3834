"""The literature's remedies as options (issue #28): blur pooling (Zhang 2019), partial-convolution padding
(Liu et al. 2018), a strided convolution in place of the pool (Springenberg et al. 2014) and no pooling.

Each is checked against an independent computation (F.max_pool2d, F.conv2d with an explicit kernel, a mask
convolved by hand), its geometry against the built network, and once end to end through the real CLI.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.config import limits as config_limits
from experiments.config import validate
from experiments.models.alexnet import alexnet, alexnet_bn
from experiments.models.architectures import ALEXNET, LENET5, LENET5_CLASSIC
from experiments.models.convs import PartialPaddingConv2d, make_conv
from experiments.models.geometry import Conv, Pool, as_built, feature_sizes, pool_output_size
from experiments.models.layer_table import summarize
from experiments.models.layers import PartialConv2d, make_pool
from experiments.models.lenet import C3_TABLE, lenet5, lenet5_classic
from experiments.models.option_facts import KEEPS_SIZE, states
from experiments.models.pools import BlurMaxPool2d, StridedConv2d
from experiments.records.run_record import RunRecord
from experiments.sweeps.identical import identical_jobs

from .conftest import QUICK, cli_env, compose_config, refusal, run_cli
from .test_models import POOLINGS

# Zhang's binomial rows, written out (not computed the way the module computes them).
BINOMIAL = {
    1: [1.0],
    2: [1.0, 1.0],
    3: [1.0, 2.0, 1.0],
    4: [1.0, 3.0, 3.0, 1.0],
    5: [1.0, 4.0, 6.0, 4.0, 1.0],
}
REMEDIES = ("blurmax", "strided_conv", "none")
PARTIAL = {"size": "same", "mode": "partial"}


def blurred_max(x: torch.Tensor, kernel: int, stride: int, filter_size: int) -> torch.Tensor:
    """Max pooling at stride 1, reflect padding (floor before, ceil after), then the explicit binomial blur."""
    row = torch.tensor(BINOMIAL[filter_size])
    blur = (row[:, None] * row[None, :]) / row.sum() ** 2
    peaks = F.max_pool2d(x, kernel, stride=1)
    before, after = (filter_size - 1) // 2, filter_size // 2
    peaks = F.pad(peaks, (before, after, before, after), mode="reflect")
    weight = blur.expand(x.shape[1], 1, filter_size, filter_size)
    return F.conv2d(peaks, weight, stride=stride, groups=x.shape[1])


# --- blurmax -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filter_size", sorted(BINOMIAL))
@pytest.mark.parametrize(("kernel", "stride"), [(2, 2), (3, 2)])  # LeNet-5's window, AlexNet's
def test_blurmax_is_max_pooling_at_stride_1_then_the_binomial_blur(kernel, stride, filter_size):
    x = torch.randn(2, 3, 27, 27)
    pool = BlurMaxPool2d(filter_size, kernel_size=kernel, stride=stride)
    torch.testing.assert_close(pool(x), blurred_max(x, kernel, stride, filter_size))
    assert pool(x).shape == F.max_pool2d(x, kernel, stride).shape


def test_blurmax_default_filter_is_antialiased_cnns_and_the_option_sets_it():
    assert POOLINGS["blurmax"].keywords["filter_size"] == 4
    assert make_pool(POOLINGS["blurmax"], Pool("S2", 2, 2)).filter_size == 4
    assert BlurMaxPool2d(kernel_size=2).filter.sum().item() == pytest.approx(1.0)
    assert BlurMaxPool2d(kernel_size=2).state_dict() == {}  # the filter is no weight: a max pool's state


@settings(max_examples=120, deadline=None)
@given(
    size=st.integers(1, 30),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 4),
    padding=st.integers(0, 2),
    ceil_mode=st.booleans(),
    filter_size=st.integers(1, 7),
)
def test_blurmax_output_size_is_max_poolings(size, kernel, stride, padding, ceil_mode, filter_size):
    if padding > kernel // 2 or pool_output_size(size, kernel, stride, padding, ceil_mode=ceil_mode) < 1:
        return  # torch's max pool refuses these
    x = torch.rand(1, 2, size, size)
    plain = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
    pool = BlurMaxPool2d(filter_size, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    assert pool(x).shape == plain.shape


@pytest.mark.parametrize("build", [lenet5, alexnet, alexnet_bn, lenet5_classic])
def test_blurmax_keeps_every_later_layer_of_each_network(build):
    plain, blurred = build(), build(pooling=POOLINGS["blurmax"])
    size = 32 if "lenet" in build.__name__ else 224
    channels = 1 if "lenet" in build.__name__ else 3
    assert {k: v.shape for k, v in plain.state_dict().items()} == {
        k: v.shape for k, v in blurred.state_dict().items()
    }
    shapes = [row["output_shape"] for row in summarize(plain, channels, size)["layers"]]
    assert [row["output_shape"] for row in summarize(blurred, channels, size)["layers"]] == shapes


def test_a_one_pixel_shift_of_an_impulse_moves_blurmax_less_than_max_pooling():
    """Zhang's point: max pooling's output jumps by the whole impulse when it crosses a window boundary; with
    the 1 3 3 1 blur no output moves by more than two rows' taps times the largest column tap, 6/8 * 3/8."""
    pool = BlurMaxPool2d(4, kernel_size=2, stride=2)
    worst_max, worst_blur = 0.0, 0.0
    for row in range(4, 12):
        for col in range(4, 12):
            here, there = torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16)
            here[..., row, col], there[..., row, col + 1] = 1.0, 1.0
            worst_max = max(worst_max, (F.max_pool2d(there, 2) - F.max_pool2d(here, 2)).abs().max().item())
            worst_blur = max(worst_blur, (pool(there) - pool(here)).abs().max().item())
    assert worst_max == 1.0
    assert worst_blur <= 6 / 8 * 3 / 8 + 1e-6


# --- partial padding ---------------------------------------------------------------------------------------


def independent_partial(conv: torch.nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """Liu et al.: zero-padded conv without bias, times area / (in-image pixels under the window), plus bias."""
    kernel, stride, pad, dilation = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    mask = torch.ones(1, 1, *x.shape[-2:])
    inside = F.conv2d(mask, torch.ones(1, 1, kernel, kernel), stride=stride, padding=pad, dilation=dilation)
    ratio = torch.where(inside > 0, kernel * kernel / inside.clamp_min(1), torch.zeros_like(inside))
    out = F.conv2d(x, conv.weight, None, stride=stride, padding=pad, dilation=dilation) * ratio
    return out + conv.bias.view(1, -1, 1, 1)


def test_partial_padding_makes_a_constant_input_constant_at_the_border():
    layer = Conv("c", 2, kernel=5)
    reweighted, zeros = make_conv(3, layer, PARTIAL), make_conv(3, layer, {"size": "same", "mode": "zeros"})
    for conv in (reweighted, zeros):
        with torch.no_grad():
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    x = torch.full((1, 3, 9, 9), 2.0)
    torch.testing.assert_close(reweighted(x), torch.full((1, 2, 9, 9), 2.0 * 3 * 25))
    assert zeros(x)[0, 0, 0, 0] < zeros(x)[0, 0, 4, 4]  # zero padding's border sees zeros


def test_partial_padding_adds_the_bias_once_after_the_reweighting():
    conv = make_conv(2, Conv("c", 4, kernel=3), PARTIAL)
    with torch.no_grad():
        conv.bias.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5]))
    x = torch.randn(2, 2, 7, 7)
    torch.testing.assert_close(conv(x), independent_partial(conv, x))
    biasless = torch.nn.functional.conv2d(x, conv.weight, None, padding=1)
    corner = (conv(x) - conv.bias.view(1, -1, 1, 1))[..., 0, 0]  # the corner sees 4 of 9 pixels
    torch.testing.assert_close(corner, biasless[..., 0, 0] * 9 / 4)


@settings(max_examples=80, deadline=None)
@given(
    kernel=st.integers(1, 7),
    padding=st.integers(0, 4),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 2),
    size=st.integers(1, 16),
)
def test_partial_padding_is_liu_and_equals_zero_padding_in_the_interior(
    kernel, padding, stride, dilation, size
):
    layer = Conv("c", 3, kernel=kernel, stride=stride, dilation=dilation)
    if size + 2 * padding < dilation * (kernel - 1) + 1:
        return  # no output
    torch.manual_seed(0)
    reweighted = make_conv(2, layer, {"size": padding, "mode": "partial"})
    zeros = make_conv(2, layer, {"size": padding, "mode": "zeros"})
    zeros.load_state_dict(reweighted.state_dict())  # the same weights: the state_dict is a plain Conv2d's
    x = torch.randn(1, 2, size, size)
    out = reweighted(x)
    torch.testing.assert_close(out, independent_partial(reweighted, x))
    # Where the whole window lies inside the image, the ratio is 1: partial equals zero padding.
    starts = [i * stride - padding for i in range(out.shape[-1])]
    inner = [i for i, s in enumerate(starts) if s >= 0 and s + dilation * (kernel - 1) < size]
    if inner:
        rows = torch.tensor(inner)
        torch.testing.assert_close(
            out[..., rows[:, None], rows[None, :]], zeros(x)[..., rows[:, None], rows[None, :]]
        )


def test_partial_padding_keeps_a_plain_conv_state_dict_and_follows_the_input_size():
    conv = make_conv(3, Conv("c", 4, kernel=3), PARTIAL)
    assert isinstance(conv, PartialPaddingConv2d)
    plain = torch.nn.Conv2d(3, 4, 3, padding=1)
    assert conv.state_dict().keys() == plain.state_dict().keys()
    conv.load_state_dict(plain.state_dict(), strict=True)
    for size in (8, 11, 8):  # the ratio is remade when the size changes
        x = torch.randn(1, 3, size, size)
        torch.testing.assert_close(conv(x), independent_partial(conv, x))


def test_the_layer_tables_fake_forward_leaves_the_ratio_real():
    net = lenet5(padding=PARTIAL)
    summarize(net, 1, 32)  # runs the network on fake tensors
    x = torch.randn(2, 1, 32, 32)
    conv = net.features[0]
    torch.testing.assert_close(conv(x), independent_partial(conv, x))


def test_partial_padding_works_with_the_c3_connection_table():
    conv = PartialConv2d(6, 16, 5, C3_TABLE, padding=2, padding_mode="partial")
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    out = conv(torch.ones(1, 6, 10, 10))
    connections = torch.tensor([len(t) for t in C3_TABLE], dtype=torch.float) * 25
    torch.testing.assert_close(out, connections.view(1, 16, 1, 1).expand(1, 16, 10, 10))
    net = lenet5_classic(padding=PARTIAL)
    assert isinstance(net.features.C3, PartialConv2d) and net.features.C3.padding_mode == "partial"
    assert net(torch.randn(2, 1, 32, 32)).shape == (2, 10)


# --- strided_conv ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kernel", "stride", "ceil_mode"), [(2, 2, False), (3, 2, False), (3, 2, True)])
def test_strided_conv_has_the_pools_output_size(kernel, stride, ceil_mode):
    x = torch.randn(2, 5, 14, 14)
    pool = make_pool(POOLINGS["strided_conv"], Pool("p", kernel, stride, ceil_mode=ceil_mode), channels=5)
    assert isinstance(pool, StridedConv2d) and pool.in_channels == pool.out_channels == 5
    assert pool(x).shape == F.max_pool2d(x, kernel, stride, ceil_mode=ceil_mode).shape


@pytest.mark.parametrize("build", [lenet5, alexnet, alexnet_bn])
def test_the_layer_table_counts_the_strided_convs_parameters_and_flops(build):
    net = build(pooling=POOLINGS["strided_conv"])
    lenet = build is lenet5
    summary = summarize(net, 1 if lenet else 3, 32 if lenet else 224)
    assert summary["totals"]["params"] == sum(p.numel() for p in net.parameters())
    rows = [row for row in summary["layers"] if row["type"] == "StridedConv2d"]
    modules = [m for m in net.modules() if isinstance(m, StridedConv2d)]
    assert [row["params"] for row in rows] == [sum(p.numel() for p in m.parameters()) for m in modules]
    assert len(rows) == (2 if lenet else 3) and all(row["kind"] == "conv" for row in rows)
    for row, module in zip(rows, modules):
        c, h, w = row["output_shape"]
        assert row["flops"] == 2 * c * c * module.kernel_size[0] ** 2 * h * w
    if lenet:  # 61,706 + S2 (6*6*4 + 6) + S4 (16*16*4 + 16)
        assert summary["totals"]["params"] == 61_706 + 150 + 1_040 == 62_896


def test_the_model_activation_follows_the_strided_conv_in_either_block_order():
    act_first = lenet5(pooling=POOLINGS["strided_conv"])
    assert isinstance(act_first.features[2].act, torch.nn.ReLU)  # conv, relu, strided conv, relu
    pool_first = lenet5(pooling=POOLINGS["strided_conv"], block_order="conv-pool-act")
    assert isinstance(pool_first.features[1], StridedConv2d) and isinstance(
        pool_first.features[2], torch.nn.ReLU
    )
    assert isinstance(pool_first.features[1].act, torch.nn.Identity)  # the block's own relu follows
    off = partial(StridedConv2d, activate=False)  # pooling.activate=false
    assert isinstance(
        make_pool(off, Pool("p", 2, 2), channels=3, activation=torch.nn.ReLU).act, torch.nn.Identity
    )


def test_a_learned_pool_in_lenet5_classic_is_refused_in_one_line():
    message = refusal("model=lenet5_classic", "pooling=strided_conv")
    assert message.startswith("pooling: a learned pooling") and "\n" not in message
    with pytest.raises(ValueError, match="trainable subsampling already"):
        lenet5_classic(pooling=POOLINGS["strided_conv"])


# --- none --------------------------------------------------------------------------------------------------


def test_no_pooling_is_the_identity_and_keeps_the_size():
    pool = make_pool(POOLINGS["none"], Pool("S2", 2, 2))
    x = torch.randn(2, 3, 9, 9)
    assert pool(x) is x
    assert states(POOLINGS["none"], KEEPS_SIZE) and not states(POOLINGS["max"], KEEPS_SIZE)


@pytest.mark.parametrize("image_size", [32, 28, 40])
@pytest.mark.parametrize("padding", [None, {"size": "same", "mode": "zeros"}, PARTIAL])
def test_geometry_predicts_the_first_fc_layer_without_pooling(image_size, padding):
    size = (padding or {}).get("size", "model")
    side = feature_sizes(as_built(LENET5, keeps_size=True), image_size, size)[-1]
    net = lenet5(pooling=POOLINGS["none"], padding=padding, image_size=image_size)
    assert net.classifier[1].in_features == 16 * side * side
    assert net.features(torch.zeros(1, 1, image_size, image_size)).shape == (1, 16, side, side)
    classic_side = feature_sizes(as_built(LENET5_CLASSIC, keeps_size=True), image_size, size)[-1]
    classic = lenet5_classic(pooling=POOLINGS["none"], padding=padding, image_size=image_size)
    assert classic.classifier.F6.in_features == 120 * classic_side**2
    if padding is None and image_size == 32:
        assert side == 24 and net.classifier[1].in_features == 9_216


def test_alexnet_without_pooling_keeps_its_maps_and_fc6():
    net = alexnet(num_classes=10, pooling=POOLINGS["none"], image_size=96)
    side = feature_sizes(as_built(ALEXNET, keeps_size=True), 96)[-1]
    assert net.features(torch.zeros(1, 3, 96, 96)).shape == (1, 256, side, side) and side == 23
    assert net.classifier[1].in_features == 256 * 6 * 6  # the adaptive 6x6 average pool subsamples


def test_the_memory_check_counts_the_maps_that_no_pooling_keeps(monkeypatch):
    monkeypatch.setattr(config_limits, "memory_bytes", lambda: 2**30)  # a 1 GiB machine
    batch = "data.batch_size=100"  # ~0.25 GiB of maps with max pooling, ~2 GiB without
    validate(compose_config("model=alexnet", "pooling=max", batch))
    assert refusal("model=alexnet", "pooling=none", batch).startswith("image_size: image_size=224")


def test_no_pooling_finds_its_block_order_twins_and_they_are_bit_identical():
    orders = ("model.net.block_order=conv-act-pool", "model.net.block_order=conv-pool-act")
    configs = [compose_config("pooling=none", "activation=relu", o) for o in orders]
    assert identical_jobs(configs) == {1: 0}
    assert identical_jobs([compose_config("pooling=blurmax", o) for o in orders]) == {}
    assert identical_jobs([compose_config("pooling=strided_conv", o) for o in orders]) == {}
    x = torch.randn(3, 1, 32, 32)
    outputs = []
    for order in ("conv-act-pool", "conv-pool-act"):
        torch.manual_seed(0)
        outputs.append(lenet5(pooling=POOLINGS["none"], block_order=order)(x))
    assert torch.equal(*outputs)


# --- up front and end to end -------------------------------------------------------------------------------


def test_every_remedy_validates_for_every_model_without_torch():
    code = (
        "import sys\n"
        "from experiments.config import ConfigError, compose\n"
        "for model in ('lenet5', 'lenet5_classic', 'alexnet', 'alexnet_bn', 'alexnet_paper'):\n"
        "    for option in ('pooling=blurmax', 'pooling=strided_conv', 'pooling=none', 'padding=partial'):\n"
        "        try:\n"
        "            compose([f'model={model}', option, 'paths.output_dir=x'])\n"
        "        except ConfigError as error:\n"
        "            print(model, option, error)\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=cli_env()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    refused = done.stdout.splitlines()
    assert len(refused) == 1 and refused[0].startswith(
        "lenet5_classic pooling=strided_conv pooling: a learned"
    )


def test_a_bad_filter_size_is_refused_up_front():
    message = refusal("pooling=blurmax", "pooling.filter_size=0")
    assert message.startswith("pooling.filter_size: must be an integer in [1, 64]")


def test_the_dry_run_lists_the_remedies_with_their_sizes(tmp_path):
    result = run_cli(
        "-m",
        "pooling=max,blurmax,strided_conv,none",
        "padding=default,partial",
        "sweep.dry_run=true",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {
        tuple(line.split()[1:3]): line.split()[3:]
        for line in result.stdout.splitlines()
        if line[:1].isdigit()
    }
    params = {key: int(cells[1].replace(",", "")) for key, cells in rows.items() if cells[:1] == ["ok"]}
    assert len(params) == 8, result.stdout
    assert (
        params[("pooling=max", "padding=default")] == params[("pooling=blurmax", "padding=default")] == 61_706
    )
    assert params[("pooling=strided_conv", "padding=default")] == 62_896
    assert params[("pooling=none", "padding=default")] == 61_706 + (9_216 - 400) * 120
    assert "8 jobs: 8 to run, 0 invalid" in result.stdout
    assert not (tmp_path / "outputs" / "multirun").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [("pooling=blurmax",), ("pooling=strided_conv",), ("pooling=none",), ("padding=partial",)],
    ids=lambda o: o[0],
)
def test_each_remedy_trains_one_epoch_through_the_cli(tmp_path, overrides):
    run_dir = tmp_path / "run"
    result = run_cli(*QUICK, *overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    assert record.ok and record.metric("test/acc") is not None
    pooling = dict(o.split("=") for o in overrides).get("pooling", "max")
    padding = PARTIAL if overrides[0].startswith("padding") else None
    net = lenet5(pooling=POOLINGS[pooling], padding=padding)
    assert record.params_total == sum(p.numel() for p in net.parameters())
