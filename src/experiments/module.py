"""ClassificationModule: a network, cross-entropy, torchmetrics, and the configured optimizer/scheduler."""

from __future__ import annotations

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
    ) -> None:
        super().__init__()
        self.config = config or {}
        self.net = net
        self.num_classes = num_classes
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.loss = loss if loss is not None else nn.CrossEntropyLoss()
        self.train_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        test = {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
        }
        if num_classes > 5:
            test["acc_top5"] = MulticlassAccuracy(num_classes, top_k=5, average="micro")
        self.test_metrics = MetricCollection(test, prefix="test/")
        self.confusion = MulticlassConfusionMatrix(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        logits = self.net(images)
        loss = self.loss(logits, labels)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                f"(batch {batch_idx}); lower optimizer.lr or check the input data"
            )
        self.train_acc(logits, labels)
        self.log("train/loss_step", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/loss", loss, on_step=False, on_epoch=True, sync_dist=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the resolved config and the RNG states, as plain values and tensors only
        (``torch.load(weights_only=True)`` reads the file)."""
        checkpoint["config"] = self.config
        checkpoint["rng"] = rng_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng" in checkpoint:
            set_rng_states(checkpoint["rng"])

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
