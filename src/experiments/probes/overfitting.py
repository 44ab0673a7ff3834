"""Overfitting at the tested checkpoint: train minus test accuracy and loss, and the calibration error."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from experiments.probes.inputs import ProbeInputs


@dataclass
class OverfittingResult:
    """Accuracy and mean loss on training and test images (eval mode, no augmentation), and test ECE."""

    train_acc: float
    train_loss: float
    test_acc: float
    test_loss: float
    ece: float
    train_images: int

    def metrics(self) -> dict[str, float]:
        return {
            "probe/train_acc": self.train_acc,
            "probe/train_loss": self.train_loss,
            "probe/gap_acc": self.train_acc - self.test_acc,
            "probe/gap_loss": self.train_loss - self.test_loss,
            "probe/ece": self.ece,
        }

    def curves(self) -> dict[str, object]:
        return {}


def probe_overfitting(
    inputs: ProbeInputs, *, train_images: int | None = None, bins: int = 15
) -> OverfittingResult:
    """The gap on the first ``train_images`` training images (all probed test images' count by default);
    ECE: torchmetrics' ``MulticlassCalibrationError`` (L1, ``bins`` equal-width bins) on the softmax."""
    if inputs.train_images is None or inputs.train_labels is None:
        raise ValueError("the overfitting probe needs training images")
    cap = train_images or inputs.count
    train = inputs.train_images[:cap]
    train_labels = inputs.train_labels[:cap].to(train.device)
    train_acc, train_loss = _scores(inputs, inputs.logits(images=train), train_labels)
    test_logits = inputs.logits()
    test_acc, test_loss = _scores(inputs, test_logits, inputs.labels)
    return OverfittingResult(
        train_acc,
        train_loss,
        test_acc,
        test_loss,
        calibration_error(test_logits, inputs.labels, bins),
        len(train),
    )


def _scores(inputs: ProbeInputs, logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        accuracy = float((logits.argmax(dim=1) == labels).float().mean())
        return accuracy, float(inputs.loss(logits, labels))


def calibration_error(logits: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error (L1) of ``logits`` (softmax confidences) against ``labels``."""
    from torchmetrics.classification import MulticlassCalibrationError

    metric = MulticlassCalibrationError(num_classes=logits.shape[1], n_bins=bins, norm="l1")
    return float(metric(logits.float().softmax(dim=1).cpu(), labels.cpu()))
