"""The plain-Python output-size formula equals what torch computes, for every padding mode and pooling type."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.models.geometry import (
    PADDING_MODES,
    Conv,
    Pool,
    as_built,
    conv_output_size,
    conv_padding,
    pool_output_size,
)
from experiments.models.layers import make_conv, make_pool
from experiments.models.option_facts import KEEPS_SIZE, states

from .test_models import POOLINGS


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    dilation=st.integers(1, 3),
    padding=st.one_of(st.sampled_from(["valid", "same", "full"]), st.integers(0, 4)),
    mode=st.sampled_from(PADDING_MODES),
)
def test_conv_output_size_matches_conv2d(size, kernel, stride, dilation, padding, mode):
    layer = Conv("c", 2, kernel=kernel, stride=stride, dilation=dilation)
    pad = conv_padding(layer, padding)
    expected = conv_output_size(size, kernel, stride, pad, dilation)
    if (
        expected < 1
        or (mode in ("reflect", "circular") and pad >= size)
        or (mode == "replicate" and size < 1)
    ):
        return  # torch refuses these inputs, as the geometry check does (size < 1) or the padding mode must
    conv = make_conv(1, layer, {"size": padding, "mode": mode, "value": 0.5})
    assert conv(torch.zeros(1, 1, size, size)).shape[-1] == expected


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 5),
    stride=st.integers(1, 4),
    padding=st.integers(0, 2),
    ceil_mode=st.booleans(),
    kind=st.sampled_from(sorted(POOLINGS)),
)
def test_pool_output_size_matches_pooling(size, kernel, stride, padding, ceil_mode, kind):
    if padding > kernel // 2 or (kind == "lp" and padding):
        return  # torch requires padding <= kernel/2; LP pooling has no padding
    layer = Pool("p", kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    (built,) = as_built([layer], states(POOLINGS[kind], KEEPS_SIZE))  # pooling=none: 1x1 at stride 1
    expected = pool_output_size(size, built.kernel, built.stride, built.padding, ceil_mode=built.ceil_mode)
    if expected < 1:
        return
    pool = make_pool(POOLINGS[kind], built, channels=2)  # a learned pool takes the map count
    assert pool(torch.rand(1, 2, size, size)).shape[-1] == expected
    assert expected == (
        size if kind == "none" else pool_output_size(size, kernel, stride, padding, ceil_mode=ceil_mode)
    )
