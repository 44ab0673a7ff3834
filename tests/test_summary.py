"""The layer summary: per-layer shapes, parameters, FLOPs, receptive fields, and the summary CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from experiments.cli.layers_command import main
from experiments.models.alexnet import alexnet, alexnet_paper
from experiments.models.layer_table import format_table, summarize, summary_metrics
from experiments.models.layers import ScaledTanh
from experiments.models.lenet import lenet5_classic


@pytest.fixture(scope="module")
def torchvision_alexnet_summary():
    return summarize(alexnet(), 3, 224)


def rows_by_layer(summary):
    return {row["layer"]: row for row in summary["layers"] if row["layer"]}


def test_alexnet_totals_and_flops_match_torch_counter(torchvision_alexnet_summary):
    totals = torchvision_alexnet_summary["totals"]
    assert totals["params"] == totals["trainable_params"] == 61_100_840
    net = alexnet().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, 224, 224))
    assert totals["flops"] == counter.get_total_flops()
    assert totals["macs"] == totals["flops"] // 2
    assert 0.70e9 < totals["macs"] < 0.72e9  # torchvision's "0.71 GFLOPS" are multiply-adds


def test_alexnet_rows_shapes_and_receptive_fields(torchvision_alexnet_summary):
    rows = rows_by_layer(torchvision_alexnet_summary)
    assert rows["conv1"]["output_shape"] == [64, 55, 55]
    assert rows["pool5"]["output_shape"] == [256, 6, 6]
    assert rows["fc8"]["output_shape"] == [1000]
    assert {
        name: rows[name]["receptive_field"] for name in ("conv1", "pool1", "conv2", "conv5", "pool5")
    } == {
        "conv1": 11,
        "pool1": 19,
        "conv2": 51,
        "conv5": 163,
        "pool5": 195,
    }
    assert rows["fc6"]["receptive_field"] is None
    assert rows["conv1"]["params"] == 23_296 and rows["fc6"]["params"] == 37_752_832
    assert (
        sum(row["flops"] for row in torchvision_alexnet_summary["layers"])
        == (torchvision_alexnet_summary["totals"]["flops"])
    )


def test_conv_and_fc_shares_of_the_seed_table():
    summary = summarize(alexnet_paper(fc_bias=False), 3, 227)
    shares = summary["shares"]
    assert summary["totals"]["params"] == 62_369_152
    assert shares["params"]["conv"] == pytest.approx(3_747_200 / 62_369_152)  # 6.0 %, as the seed says
    assert shares["flops"]["conv"] + shares["flops"]["fc"] == pytest.approx(1.0)
    assert shares["flops"]["conv"] > 0.9


def test_classic_lenet5_rows():
    summary = summarize(lenet5_classic(activation=ScaledTanh, pooling=torch.nn.AvgPool2d), 1, 32)
    rows = rows_by_layer(summary)
    assert list(rows) == ["C1", "S2", "C3", "S4", "C5", "F6", "output"]
    assert [rows[n]["params"] for n in rows] == [156, 12, 1_516, 32, 48_120, 10_164, 0]
    assert [rows[n]["output_shape"] for n in ("C1", "S2", "C3", "S4", "C5")] == [
        [6, 28, 28],
        [6, 14, 14],
        [16, 10, 10],
        [16, 5, 5],
        [120, 1, 1],
    ]
    assert rows["C5"]["receptive_field"] == 32
    assert summary["totals"]["trainable_params"] == 60_000
    assert summary["totals"]["fixed_values"] == 840
    assert "fixed (not trained) values 840" in format_table(summary)


def test_summarize_leaves_the_network_as_it_was():
    net = alexnet_paper(num_classes=10, image_size=67)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    summarize(net, 3, 67)
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not any(m._forward_hooks for m in net.modules())


def test_cli_prints_the_table_without_reading_data(capsys, tmp_path):
    code = main(["model=alexnet", "data=flowers17", f"paths.data_dir={tmp_path / 'nothing'}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "57,073,489" in out and "conv5" in out and "FLOPs" in out
    assert not (tmp_path / "nothing").exists()


def test_cli_json_and_preset(capsys):
    assert main(["--json", "experiment=alexnet_flowers17_paper"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "alexnet_paper" and result["input"] == [3, 227, 227]
    assert result["totals"]["params"] == 62_378_344 - 4_097_000 + 4096 * 17 + 17


def test_cli_geometry_error_names_the_layer_and_smallest_input(capsys):
    assert main(["model=alexnet", "data=digits", "image_size=8"]) == 2
    err = capsys.readouterr().err
    assert "layer 'pool1'" in err and "image_size=63" in err


def test_cli_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "experiments.summary", "model=lenet5_classic"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "PartialConv2d" in done.stdout and "60,000" in done.stdout


def test_summary_metrics_are_flat_numbers(torchvision_alexnet_summary):
    metrics = summary_metrics(torchvision_alexnet_summary)
    assert metrics["model/params"] == 61_100_840
    assert metrics["model/conv_flops_share"] + metrics["model/fc_flops_share"] + metrics[
        "model/other_flops_share"
    ] == pytest.approx(1.0)
    assert all(isinstance(v, float) for v in metrics.values())
