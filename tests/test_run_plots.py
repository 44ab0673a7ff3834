"""Per-run plots (``experiments.run_plots``): PNGs from ``results.json`` fields, and logging them as images."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.records.run_plots import log_images, save_run_plots
from experiments.records.run_record import RunRecord


def results(epochs: int = 3, classes: int = 10) -> RunRecord:
    matrix = [[0] * classes for _ in range(classes)]
    for i in range(classes):
        matrix[i][i] = 40
        matrix[i][(i + 3) % classes] = 5
    return RunRecord.from_json(
        {
            "status": "ok",
            "name": "pooling=max,seed=0",
            "best_epoch": epochs,
            "metrics": {"test/acc": 0.89},
            "history": [
                {
                    "epoch": e + 1,  # 1-based, as results.json records it
                    "train/loss": 2 / (e + 1),
                    "val/loss": 1.8 / (e + 1),
                    "train/acc": 0.3 * (e + 1),
                    "val/acc": 0.31 * (e + 1),
                }
                for e in range(epochs)
            ],
            "confusion_matrix": matrix,
            "data_info": {"classes": [str(i) for i in range(classes)]},
        }
    )


def variance(path: Path) -> float:
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        return sum(ImageStat.Stat(image.convert("L")).var)


def test_curves_and_confusion_matrix(tmp_path):
    paths = save_run_plots(tmp_path, results())
    assert [p.name for p in paths] == ["curves.png", "confusion_matrix.png"]
    for path in paths:
        assert path.parent == tmp_path / "plots" and variance(path) > 50


def test_one_epoch_and_many_classes(tmp_path):
    paths = save_run_plots(tmp_path, results(epochs=1, classes=17))
    assert len(paths) == 2 and all(variance(p) > 50 for p in paths)


def test_a_failed_run_gets_no_plots(tmp_path):
    assert save_run_plots(tmp_path, RunRecord(status="failed", error="boom")) == []
    assert save_run_plots(tmp_path, RunRecord(history=[{"epoch": 0, "lr": 0.1}])) == []
    assert not (tmp_path / "plots").exists()


class FakeWandb:
    def __init__(self) -> None:
        self.logged: list[tuple[str, list]] = []

    def log_image(self, key, images, step=None, **kwargs):
        self.logged.append((key, images))


class FakeWriter:
    def __init__(self) -> None:
        self.images: list[tuple[str, tuple, str]] = []

    def add_image(self, tag, image, global_step=None, dataformats="CHW"):
        self.images.append((tag, image.shape, dataformats))


class FakeTensorBoard:
    def __init__(self) -> None:
        self.experiment = FakeWriter()


class Broken:
    def log_image(self, **kwargs):
        raise RuntimeError("no network")


class CsvLike:
    experiment = object()


def test_log_images_dispatches_by_logger_kind(tmp_path, caplog):
    paths = save_run_plots(tmp_path, results())
    wandb_like, tensorboard_like = FakeWandb(), FakeTensorBoard()
    log_images([CsvLike(), Broken(), wandb_like, tensorboard_like], paths)
    assert wandb_like.logged == [
        ("plots/curves", [str(paths[0])]),
        ("plots/confusion_matrix", [str(paths[1])]),
    ]
    tags = [(tag, shape[2], fmt) for tag, shape, fmt in tensorboard_like.experiment.images]
    assert tags == [("plots/curves", 3, "HWC"), ("plots/confusion_matrix", 3, "HWC")]
    assert "could not log plots to Broken" in caplog.text
    log_images([wandb_like], [tmp_path / "missing.png"])  # nothing to log: no call, no error
    assert len(wandb_like.logged) == 2


@pytest.mark.slow
def test_real_lightning_loggers(tmp_path, monkeypatch):
    """Lightning's TensorBoardLogger writes an image event; an offline WandbLogger logs image files."""
    pytest.importorskip("pytorch_lightning")
    import wandb
    from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger

    from experiments.comparison.sources.wandb_logs import wandb_files
    from experiments.records.wandb_offline import records as wandb_records

    paths = save_run_plots(tmp_path / "run", results())
    tensorboard = TensorBoardLogger(save_dir=str(tmp_path / "tb"), name="", version="")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb_logger = WandbLogger(save_dir=str(tmp_path / "run"), project="experiments", mode="offline")
    log_images([tensorboard, wandb_logger], paths)
    tensorboard.experiment.close()
    wandb_logger.experiment.finish()
    wandb.teardown()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert sorted(events.Tags()["images"]) == ["plots/confusion_matrix", "plots/curves"]
    assert events.Images("plots/curves")[0].width > 100
    (log_file,) = wandb_files(tmp_path / "run" / "wandb")
    logged = {
        "/".join(item.nested_key) or item.key
        for record in wandb_records(log_file)
        if record.WhichOneof("record_type") == "history"
        for item in record.history.item
    }
    assert {"plots/curves/_type", "plots/confusion_matrix/_type"} <= logged, logged  # wandb.Image entries
