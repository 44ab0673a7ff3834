"""ClassificationModule: a network, cross-entropy, torchmetrics, and the configured optimizer/scheduler."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch generator states as tensors and tuples of ints."""
    import random

    import numpy as np

    _, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_states(states: dict[str, Any]) -> None:
    import random

    import numpy as np

    random.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in states["python"]))
    n = states["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(states["torch"])


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class EpochTotals:
    """The training epoch's loss sum and correct count (a tensor on the model's device) and images seen.

    Adding a batch is a few tensor ops and no host sync; a NaN or infinite loss stays in the sum, so
    checking the sum now and then finds it. A new ``epoch`` restarts the totals; after a resume from a
    mid-epoch checkpoint the restored totals carry on.
    """

    def __init__(self) -> None:
        self.epoch = -1
        self.seen = 0
        self.sums: torch.Tensor | None = None  # float64: loss x batch size, correct predictions

    def add(self, epoch: int, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        with torch.no_grad():
            if epoch != self.epoch or self.sums is None:
                self.epoch, self.seen = epoch, 0
                self.sums = torch.zeros(2, dtype=torch.float64, device=loss.device)
            elif self.sums.device != loss.device:
                self.sums = self.sums.to(loss.device)
            count = labels.shape[0]
            correct = (logits.argmax(dim=1) == labels).sum()
            self.sums += torch.stack((loss.detach().double() * count, correct.double()))
            self.seen += count

    def loss_sum(self) -> float:
        return float(self.sums[0]) if self.sums is not None else 0.0

    def means(self, strategy: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Epoch-mean loss and accuracy over all processes (sums over ranks, then one division)."""
        seen = torch.tensor([float(self.seen)], dtype=torch.float64, device=self.sums.device)
        totals = strategy.reduce(torch.cat((self.sums, seen)), reduce_op="sum")
        loss_sum, correct, seen = totals.float()
        return loss_sum / seen, correct / seen

    def state_dict(self) -> dict[str, Any]:
        sums = None if self.sums is None else self.sums.cpu()
        return {"epoch": self.epoch, "seen": self.seen, "sums": sums}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.seen, self.sums = int(state["epoch"]), int(state["seen"]), state["sums"]


class ClassificationModule(pl.LightningModule):
    """Trains ``net`` with ``loss`` (cross-entropy by default); logs ``{train,val,test}/{loss,acc}``, ``test/acc_top5`` and ``test/f1_macro``."""

    def __init__(
        self,
        net: nn.Module,
        *,
        num_classes: int,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        scheduler_interval: str = "epoch",
        loss: nn.Module | None = None,
        config: dict[str, Any] | None = None,
        channels_last: bool = False,
        compile: bool | str = False,
    ) -> None:
        super().__init__()
        self.config = config or {}
        self.net = net.to(memory_format=torch.channels_last) if channels_last else net
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.loss = loss if loss is not None else nn.CrossEntropyLoss()
        self.channels_last = channels_last
        # The layout the datamodule converts input batches to (experiments.data.device_batches): Lightning
        # runs only the datamodule's on_after_batch_transfer when both define one, so the module has none.
        self.input_memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.compile_mode = compile
        self._compiled = False
        self.train_totals = EpochTotals()
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        test = {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        }
        if num_classes > 5:
            test["acc_top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
        self.test_metrics = MetricCollection(test, prefix="test/")
        self.confusion = MulticlassConfusionMatrix(num_classes)
        # Per-image test predictions and labels, batch by batch on the device (no host sync per batch);
        # after the test, every rank's in the test set's order (see on_test_epoch_end).
        self._test_batches: list[torch.Tensor] = []
        self.test_predictions: tuple[torch.Tensor, torch.Tensor] | None = None
        self.test_predictions_missing: str | None = None

    def configure_model(self) -> None:
        """``torch.compile`` the network in place (its state_dict keys stay the same) before fit or test."""
        if self.compile_mode and not self._compiled:
            self.net.compile(**({} if self.compile_mode is True else {"mode": self.compile_mode}))
            self._compiled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Forward and loss; the epoch's loss and accuracy are tallied on the device and logged once, on
        the epoch's last batch, and the step loss every ``log_every_n_steps`` (no per-step host sync)."""
        images, labels = batch
        logits = self.net(images)
        loss = self.loss(logits, labels)
        self.train_totals.add(self.current_epoch, loss, logits, labels)
        trainer = self.trainer
        epoch_ends = batch_idx + 1 >= trainer.num_training_batches
        if epoch_ends or (trainer.global_step + 1) % trainer.log_every_n_steps == 0:
            self._raise_if_not_finite(batch_idx)
            self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        if epoch_ends:
            mean_loss, accuracy = self.train_totals.means(trainer.strategy)
            self.log("train/loss", mean_loss, on_step=False, on_epoch=True, sync_dist=True)
            self.log("train/acc", accuracy, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def _raise_if_not_finite(self, batch_idx: int) -> None:
        value = self.train_totals.loss_sum()
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"training loss is {value} at epoch {self.current_epoch + 1}, by step {self.global_step} "
                f"(batch {batch_idx}); lower optimizer.lr or check the input data"
            )

    def on_train_epoch_start(self) -> None:
        """SDLM's curvature estimate before each pass (LeCun et al. 1998, Appendix C)."""
        from experiments.training.sdlm import SDLM, estimate_curvature

        optimizer = self.optimizers(use_pl_optimizer=False)
        if isinstance(optimizer, SDLM):
            estimate_curvature(optimizer, self.net, self.loss, self.trainer)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self.net(images)
        self.val_acc(logits, labels)
        self.log("val/loss", self.loss(logits, labels), on_epoch=True, prog_bar=True, sync_dist=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        logits = self.net(images)
        self.log("test/loss", self.loss(logits, labels), on_epoch=True, sync_dist=True)
        self.test_metrics(logits, labels)
        self.log_dict(self.test_metrics, on_epoch=True)
        self.confusion.update(logits, labels)
        self._test_batches.append(torch.stack((logits.argmax(dim=1), labels)))

    def on_test_epoch_start(self) -> None:
        self._test_batches, self.test_predictions, self.test_predictions_missing = [], None, None

    def on_test_epoch_end(self) -> None:
        """Every test image's (predicted, true) class on the CPU, in the test set's order.

        One process: the batches in order. Under DDP rank r held positions r, r + W, r + 2W, ... of the
        test order (``DistributedSampler``'s and ``TensorBatches``' unshuffled shards, padded from the
        head to equal lengths), so the gathered (W, 2, m) shards, interleaved, are the test order again,
        followed by up to W - 1 padding copies, cut off by the caller with the test set's size.
        """
        empty = torch.zeros((2, 0), dtype=torch.long, device=self.device)
        local = torch.cat(self._test_batches, dim=1) if self._test_batches else empty
        self._test_batches = []
        if self.trainer.world_size == 1:
            self.test_predictions = (local[0].cpu(), local[1].cpu()) if local.shape[1] else None
            self.test_predictions_missing = None if local.shape[1] else "the test saw no image"
            return
        sizes = self.all_gather(torch.tensor(local.shape[1], device=local.device))  # every rank calls it
        if int(sizes.min()) != int(sizes.max()) or int(sizes.max()) == 0:
            self.test_predictions_missing = f"the ranks tested {sizes.tolist()} images: no one test order"
            return
        gathered = self.all_gather(local)  # (W, 2, m)
        ordered = gathered.permute(1, 2, 0).reshape(2, -1)  # position j * W + r <- rank r's j-th image
        self.test_predictions = (ordered[0].cpu(), ordered[1].cpu())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the resolved config and the RNG states, as plain values and tensors only
        (``torch.load(weights_only=True)`` reads the file)."""
        checkpoint["config"] = self.config
        checkpoint["rng"] = rng_states()
        checkpoint["train_totals"] = self.train_totals.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng" in checkpoint:
            set_rng_states(checkpoint["rng"])
        if "train_totals" in checkpoint:
            self.train_totals.load_state_dict(checkpoint["train_totals"])

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self._make_scheduler(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }

    def _make_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        """Schedulers that need the run's length (cosine, one-cycle) get it from the trainer."""
        factory = self.scheduler_factory
        keywords = getattr(factory, "keywords", {})
        target = getattr(factory, "func", factory)
        if target is torch.optim.lr_scheduler.OneCycleLR and "total_steps" not in keywords:
            return factory(optimizer, total_steps=int(self.trainer.estimated_stepping_batches))
        if target is torch.optim.lr_scheduler.CosineAnnealingLR and "T_max" not in keywords:
            steps = (
                self.trainer.estimated_stepping_batches
                if self.scheduler_interval == "step"
                else self.trainer.max_epochs
            )
            return factory(optimizer, T_max=int(steps))
        return factory(optimizer)
