"""DDP with two real CPU processes (Lightning ``ddp_spawn``, gloo): each rank's shard is disjoint, all cover the epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from experiments.data.datamodule import ClassificationData
from experiments.data.sources import Decoded

N_IMAGES = 103  # odd: the shards need padding (or trimming, with drop_last)


class NumberedSource:
    """Image i carries its own number in its first two pixels, so a rank can tell which images it saw."""

    name = "numbered"
    channels = 1
    native_size = 4

    def inputs(self) -> list[Path]:
        return []

    def fingerprint(self) -> dict[str, str]:
        return {"source": self.name}

    def decode(self, image_size: int | None = None) -> Decoded:
        ids = torch.arange(N_IMAGES)
        images = torch.zeros(N_IMAGES, 1, 4, 4, dtype=torch.uint8)
        images[:, 0, 0, 0] = (ids % 256).to(torch.uint8)
        images[:, 0, 0, 1] = (ids // 256).to(torch.uint8)
        return Decoded(images, ids % 2, ["even", "odd"], {"train": ids, "val": ids[:2], "test": ids[:2]})


class Recorder(pl.LightningModule):
    """Trains a linear layer and writes the image numbers each rank saw in each epoch to ``folder``."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.layer = torch.nn.Linear(16, 2)
        self.seen: list[torch.Tensor] = []

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        pixels = (images[:, 0, 0, :2] * 255).round().long()  # mean 0, std 1: images are x / 255
        self.seen.append(pixels[:, 0] + 256 * pixels[:, 1])
        return torch.nn.functional.cross_entropy(self.layer(images.flatten(1)), labels)

    def on_train_epoch_end(self) -> None:
        seen = torch.cat(self.seen).tolist()
        torch.save(seen, Path(self.folder) / f"rank{self.global_rank}-epoch{self.current_epoch}.pt")
        self.seen = []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("drop_last", [False, True])
def test_ddp_ranks_get_disjoint_shards_that_cover_the_epoch(tmp_path: Path, drop_last: bool) -> None:
    data = ClassificationData(
        source=NumberedSource(), name="numbered", num_classes=2, channels=1, image_size=4,
        batch_size=8, mean=[0.0], std=[1.0], drop_last=drop_last, cache=False, seed=7,
    )  # fmt: skip
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", max_epochs=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(Recorder(str(tmp_path)), datamodule=data)
    orders = []
    for epoch in (0, 1):
        ranks = [torch.load(tmp_path / f"rank{r}-epoch{epoch}.pt") for r in (0, 1)]
        if drop_last:  # 103 -> 51 per rank -> 6 full batches of 8; nothing seen twice
            assert [len(r) for r in ranks] == [48, 48]
            assert not set(ranks[0]) & set(ranks[1])
        else:  # 103 padded to 104 (one image repeated), every image seen
            assert [len(r) for r in ranks] == [52, 52]
            assert set(ranks[0]) | set(ranks[1]) == set(range(N_IMAGES))
            assert len(set(ranks[0]) & set(ranks[1])) <= 1
        orders.append(ranks[0])
    assert orders[0] != orders[1]  # a new permutation each epoch
