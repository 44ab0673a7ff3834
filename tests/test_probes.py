"""Probes (issue #28 item 1): each on a hand-made network whose answer is known, the background fill,
the settings refused up front, and the whole path through the CLI into every record and logger."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from torch import nn

from experiments.config.compose import config_groups
from experiments.config.probe_rules import PROBES
from experiments.probes.borders import probe_borders
from experiments.probes.consistency import probe_consistency
from experiments.probes.dead_units import probe_dead_units
from experiments.probes.edits import background, content_boxes, shift, shift_each
from experiments.probes.inputs import ProbeInputs
from experiments.probes.overfitting import calibration_error, probe_overfitting
from experiments.probes.rotation import probe_rotation
from experiments.probes.runner import PROBES as RUNNERS
from experiments.probes.runner import run_probes
from experiments.probes.scale import probe_scale
from experiments.probes.shift import probe_shift

from .conftest import QUICK, run_cli
from .test_trust_refusals import refused

SIZE, BACK, BRIGHT = 9, -0.5, 3.0


class BrightestColumn(nn.Module):
    """Classifies an image by the column of its brightest pixel (one class per column)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=2).sum(dim=1)


class Constant(nn.Module):
    """Always class 2 of 4."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([0.0, 0.0, 1.0, 0.0]).expand(x.shape[0], 4)


def dots(positions: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """One bright pixel per image at (row, col) on a BACK background; the label is its column."""
    images = torch.full((len(positions), 1, SIZE, SIZE), BACK)
    for i, (row, col) in enumerate(positions):
        images[i, 0, row, col] = BRIGHT
    return images, torch.tensor([col for _, col in positions])


def inputs_of(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, **extra) -> ProbeInputs:
    return ProbeInputs(
        net=net, images=images, labels=labels, background=background(images), batch_size=5, **extra
    )


# ---- the image edits -------------------------------------------------------------------------------


def test_the_background_is_the_border_median_and_fills_what_a_shift_uncovers():
    images = torch.randn(6, 3, 8, 8)
    ring = torch.tensor([0.25, -1.5, 2.0]).view(1, 3, 1)
    images[:, :, 0, :] = images[:, :, -1, :] = ring
    images[:, :, :, 0] = images[:, :, :, -1] = ring
    fill = background(images)
    assert torch.equal(fill, ring.flatten())
    moved = shift(images, 2, -3, fill)
    assert torch.equal(moved[:, :, :, :2], fill.view(1, 3, 1, 1).expand(6, 3, 8, 2))  # came in on the left
    assert torch.equal(moved[:, :, -3:, :], fill.view(1, 3, 1, 1).expand(6, 3, 3, 8))  # and at the bottom
    assert torch.equal(moved[:, :, :5, 2:], images[:, :, 3:, :6])  # the rest is the image, moved
    rolled = shift(images, 2, -3, None)
    assert torch.equal(rolled, torch.roll(images, shifts=(-3, 2), dims=(2, 3)))


def test_each_image_moves_by_its_own_offset_and_boxes_find_the_content():
    images, _ = dots([(4, 4), (4, 4)])
    moved = shift_each(images, torch.tensor([2, -3]), torch.tensor([0, 1]), torch.tensor([BACK]))
    assert moved[0, 0, 4, 6] == BRIGHT and moved[1, 0, 5, 1] == BRIGHT and (moved == BRIGHT).sum() == 2
    boxes = content_boxes(dots([(1, 7), (6, 2)])[0], torch.tensor([BACK]), 0.2)
    assert boxes.tolist() == [[7, 7, 1, 1], [2, 2, 6, 6]]


# ---- each probe, on a network whose answer is known ------------------------------------------------


def test_shift_accuracy_of_a_brightest_column_network_halves_at_every_distance():
    """Left/right shifts change the column (wrong), up/down keep it (right): 4 directions -> 0.5."""
    images, labels = dots([(4, c) for c in (3, 4, 5)] * 2)
    result = probe_shift(inputs_of(BrightestColumn(), images, labels), max_px=3, directions=4, circular=True)
    metrics = result.metrics()
    assert result.accuracy[0] == 1.0
    for d in (1, 2, 3):
        assert metrics[f"probe/shift_acc_{d}px"] == 0.5
        assert metrics[f"probe/shift_acc_circular_{d}px"] == 0.5
    assert metrics["probe/shift_acc"] == 0.5
    eight = probe_shift(inputs_of(BrightestColumn(), images, labels), max_px=1, directions=8)
    assert eight.metrics()["probe/shift_acc_1px"] == 2 / 8  # only up and down of 8 directions keep the column


def test_a_constant_classifier_is_perfectly_consistent_and_its_shift_accuracy_is_its_test_accuracy():
    images, _ = dots([(4, c) for c in range(8)])
    labels = torch.tensor([2, 2, 2, 0, 1, 3, 3, 3])  # 3 of 8 are class 2
    inputs = inputs_of(Constant(), images, labels)
    assert probe_consistency(inputs, max_px=3).metrics() == {"probe/consistency": 1.0}
    metrics = probe_shift(inputs, max_px=2).metrics()
    assert metrics["probe/shift_acc_1px"] == metrics["probe/shift_acc_2px"] == inputs.accuracy() == 3 / 8


def test_consistency_of_the_brightest_column_network_is_the_share_of_equal_horizontal_offsets():
    images, labels = dots([(4, 4)] * 40)
    found = probe_consistency(inputs_of(BrightestColumn(), images, labels), max_px=2, seed=7).consistency
    offsets = torch.randint(-2, 3, (2, 2, 40), generator=torch.Generator().manual_seed(7))  # the probe's draw
    assert found == pytest.approx(float((offsets[0, 0] == offsets[1, 0]).float().mean()))
    assert 0 < found < 1


def test_rotation_and_scale_move_an_off_centre_dot_but_not_the_centre_one():
    """Half the dots at the centre (which a rotation or scaling keeps), half off it."""
    images, labels = dots([(4, 4), (4, 8)] * 3)
    rotated = probe_rotation(inputs_of(BrightestColumn(), images, labels), degrees=[90])
    assert rotated.accuracy[0] == 1.0 and rotated.metrics() == {"probe/rot_acc_90deg": 0.5}
    images, labels = dots([(4, 4), (4, 6)] * 3)
    scaled = probe_scale(inputs_of(BrightestColumn(), images, labels), factors=[2])
    assert scaled.metrics() == {"probe/scale_acc_2": 0.5}  # the dot 2 px off the centre lands 4 px off


def test_borders_edges_and_occluded_bands_of_a_brightest_column_network():
    images, labels = dots([(4, c) for c in (1, 2, 3, 4)])
    result = probe_borders(inputs_of(BrightestColumn(), images, labels), widths=[1, 2, 4])
    metrics = result.metrics()
    assert result.edges == {"left": 0.0, "right": 0.0, "top": 1.0, "bottom": 1.0}
    assert metrics["probe/edge_acc"] == 0.5
    # An occluded dot leaves an even image, read as column 0: the dots in columns < w are lost.
    assert [metrics[f"probe/border_occlude_acc_{w}px"] for w in (1, 2, 4)] == [1.0, 0.75, 0.25]


def test_dead_units_counts_the_channels_and_features_never_positive():
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 81, 6),
        nn.ReLU(),
        nn.Linear(6, 9),
    )
    with torch.no_grad():
        net[0].weight[3].zero_()
        net[0].bias[3] = -1.0  # one channel of 4 never positive
        net[3].weight[:3].zero_()
        net[3].bias[:3] = -1.0  # three features of 6
        net[3].bias[3:] = 100.0  # the others always positive
    images, labels = dots([(4, c) for c in range(9)])
    inputs = inputs_of(net, images, labels)
    inputs.accuracy()  # the unedited logits kept by an earlier probe: the hooks still see a forward
    result = probe_dead_units(inputs)
    metrics = result.metrics()
    assert metrics["probe/dead_units/1"] == 0.25 and metrics["probe/dead_units/4"] == 0.5
    assert metrics["probe/dead_units"] == pytest.approx(4 / 10)


def test_the_calibration_error_matches_torchmetrics_and_a_hand_count():
    from torchmetrics.functional.classification import multiclass_calibration_error

    logits = torch.tensor([[math.log(9), 0.0]] * 4)  # confidence 0.9 in class 0, right half the time
    labels = torch.tensor([0, 1, 0, 1])
    assert calibration_error(logits, labels, bins=15) == pytest.approx(0.4, abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    logits, labels = (
        torch.randn(200, 5, generator=generator) * 3,
        torch.randint(0, 5, (200,), generator=generator),
    )
    expected = multiclass_calibration_error(logits.softmax(1), labels, num_classes=5, n_bins=15, norm="l1")
    assert calibration_error(logits, labels, bins=15) == pytest.approx(float(expected))


class Memoriser(nn.Module):
    """The label of the nearest training image, with logit 10 for it and 0 for the others."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: int) -> None:
        super().__init__()
        self.images, self.labels, self.classes = images.flatten(1), labels, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(x.flatten(1), self.images).argmin(dim=1)
        return 10.0 * nn.functional.one_hot(self.labels[nearest], self.classes).float()


def test_the_gap_of_a_network_that_memorised_its_training_set():
    train = torch.randn(12, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    train_labels = torch.arange(12) % 3
    test_labels = (train_labels + 1) % 3  # the same images with other labels: all wrong on test
    net = Memoriser(train, train_labels, 3)
    inputs = ProbeInputs(net=net, images=train.clone(), labels=test_labels, background=torch.zeros(1),
                         train_images=train, train_labels=train_labels, batch_size=5)  # fmt: skip
    result = probe_overfitting(inputs, train_images=8)
    metrics = result.metrics()
    right = math.log(1 + 2 * math.exp(-10))  # cross-entropy of logit 10 on the right class of 3
    assert result.train_images == 8 and metrics["probe/train_acc"] == 1.0 and metrics["probe/gap_acc"] == 1.0
    assert metrics["probe/train_loss"] == pytest.approx(right, abs=1e-6)
    assert metrics["probe/gap_loss"] == pytest.approx(-10.0, rel=1e-4)
    assert metrics["probe/ece"] == pytest.approx(1 / (1 + 2 * math.exp(-10)), rel=1e-4)  # confident and wrong


def test_run_probes_runs_the_selected_ones_with_their_settings():
    images, labels = dots([(4, c) for c in (3, 4, 5)])
    report = run_probes(
        inputs_of(BrightestColumn(), images, labels), {"shift": {"max_px": 1}, "consistency": None}
    )
    assert set(report.seconds) == {"shift", "consistency"} and report.images == 3
    assert set(report.metrics) == {
        "probe/shift_acc_1px",
        "probe/shift_acc",
        "probe/shift_acc_circular_1px",
        "probe/consistency",
    }
    assert report.background == [BACK] and json.loads(json.dumps(report.to_json()))["curves"]["shift"][
        "px"
    ] == [0, 1]


def test_the_probe_names_are_the_same_in_conf_the_config_check_and_the_runner():
    from experiments.config import compose

    files = set(config_groups()["probes"]) - {"none", "all", "cheap"}
    assert set(PROBES) == set(RUNNERS) == files
    assert set(compose(["probes=all"]).probes) == files
    assert dict(compose([]).probes) == {}  # the default: none


# ---- refused up front ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "key", "also"),
    [
        (("probes=[shift,nothing]",), "probes", "no option 'nothing'"),
        (("probes=[shift]", "probes.shift.max_px=-2"), "probes.shift.max_px", "got -2"),
        (("probes=[rotation]", "probes.rotation.degrees=[a,b]"), "probes.rotation.degrees", "list of angles"),
        (("probes=[scale]", "probes.scale.factors=[0]"), "probes.scale.factors", "(0, 10]"),
        (("probes=[borders]", "probes.borders.widths=[]"), "probes.borders.widths", "non-empty"),
        (("probes=[dead_units]", "+probes.dead_units.layers=1"), "probes.dead_units.layers", "no setting"),
        (("probes=all", "trainer=ddp", "trainer.accelerator=cpu"), "probes", "one process"),
    ],
)
def test_a_bad_probe_setting_is_refused_in_one_line_and_writes_nothing(tmp_path, args, key, also):
    refused(tmp_path, key, *args, also=also)


# ---- end to end ------------------------------------------------------------------------------------


def probe_names(metrics: dict) -> set[str]:
    return {k for k in metrics if k.startswith("probe/")}


@pytest.mark.slow
def test_probes_all_reach_results_metrics_csv_tensorboard_wandb_and_the_plots(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from experiments.records.run_record import RunRecord
    from experiments.records.wandb_offline import read_offline_run

    run_dir = tmp_path / "run"
    result = run_cli(
        "probes=all", "logger=many", "plots=true", *QUICK, f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    names = probe_names(record.metrics)
    for expected in ("probe/shift_acc_2px", "probe/shift_acc_circular_2px", "probe/consistency", "probe/rot_acc_15deg",
                     "probe/scale_acc_0.9", "probe/edge_acc", "probe/border_occlude_acc_4px", "probe/gap_acc",
                     "probe/gap_loss", "probe/ece", "probe/dead_units"):  # fmt: skip
        assert expected in names, expected
    assert any(n.startswith("probe/dead_units/") for n in names)
    assert 0 <= record.metric("probe/consistency") <= 1
    assert record.probes["images"] == record.data_info["sizes"]["test"] and record.probes["limited"] is False
    saved = json.loads((run_dir / record.probes["file"]).read_text())
    assert saved["metrics"] == {k: record.metrics[k] for k in names} and saved["curves"]["shift"]["px"] == [
        0,
        1,
        2,
        3,
    ]
    assert "plots/probes.png" in record.plots and (run_dir / "plots" / "probes.png").is_file()

    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    logged = {k for row in rows for k, v in row.items() if v not in ("", None)}
    assert names <= logged
    accumulator = EventAccumulator(str(run_dir / "tensorboard"))
    accumulator.Reload()
    assert names <= set(accumulator.Tags()["scalars"])
    run = read_offline_run(run_dir)
    assert names <= {k for row in run.history for k in row}


@pytest.mark.slow
def test_limited_test_batches_are_the_images_probed_and_flagged(tmp_path):
    from experiments.records.run_record import RunRecord

    run_dir = tmp_path / "run"
    args = (
        "probes=[dead_units,overfitting]",
        "+trainer.limit_test_batches=2",
        "data.eval_batch_size=50",
        *QUICK,
    )
    result = run_cli(*args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(run_dir)
    assert (
        record.probes["images"] == 100 == record.probes["train_images"] and record.probes["limited"] is True
    )
    assert record.probes["ran"] == ["overfitting", "dead_units"]


@pytest.mark.slow
def test_compare_reads_a_probe_metric_of_a_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_cli(
        "-m", "seed=0,1", "probes=[consistency]", *QUICK, f"hydra.sweep.dir={sweep}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    compared = run_cli(
        "compare",
        str(sweep),
        "--metric",
        "probe/consistency",
        "--out",
        str(tmp_path / "report"),
        cwd=tmp_path,
    )
    assert compared.returncode == 0, compared.stderr[-3000:]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "probe/consistency" in text
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary.get("metric") == "probe/consistency"


@pytest.mark.slow
def test_experiments_test_probes_a_saved_run(tmp_path):
    from experiments.records.run_record import RunRecord

    run_dir, out = tmp_path / "run", tmp_path / "tested"
    made = run_cli(*QUICK, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    assert not probe_names(RunRecord.read(run_dir).metrics)  # the default: no probes
    result = run_cli(
        "test",
        str(run_dir),
        "probes=[consistency,shift]",
        "probes.shift.max_px=1",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = RunRecord.read(out)
    assert probe_names(record.metrics) == {"probe/consistency", "probe/shift_acc", "probe/shift_acc_1px",
                                           "probe/shift_acc_circular_1px"}  # fmt: skip
    assert record.probes["ran"] == ["shift", "consistency"] and (out / "probes.json").is_file()
