"""What every probe reads: the trained network, the tested images and their background, batched forwards."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import nn

#: An edit of a batch: the images and where they sit among all the probed images (their slice).
Edit = Callable[[torch.Tensor, slice], torch.Tensor]


class ProbeResult(Protocol):
    """What each probe returns: its ``probe/...`` metrics and its curves for ``probes.json`` (may be empty)."""

    def metrics(self) -> dict[str, float]: ...

    def curves(self) -> dict[str, object]: ...


@dataclass
class ProbeInputs:
    """The network (in eval mode), the tested images (normalised, on the network's device), their labels,
    the background (C,), and, for the overfitting probe, training images; forwards in batches."""

    net: nn.Module
    images: torch.Tensor
    labels: torch.Tensor
    background: torch.Tensor
    batch_size: int = 256
    loss: nn.Module = field(default_factory=nn.CrossEntropyLoss)
    train_images: torch.Tensor | None = None
    train_labels: torch.Tensor | None = None
    # The test's precision (Lightning's forward context: autocast under bf16-mixed).
    context: Callable[[], AbstractContextManager[object]] = nullcontext
    limited: bool = False  # the test read fewer batches than the test split holds
    _clean: torch.Tensor | None = field(default=None, init=False, repr=False)  # the unedited test logits

    @property
    def count(self) -> int:
        return int(self.labels.shape[0])

    def logits(self, edit: Edit | None = None, images: torch.Tensor | None = None) -> torch.Tensor:
        """The network's float logits for ``images`` (the test images by default), each batch edited first;
        the unedited test images' are computed once and kept (several probes start from them)."""
        if edit is None and images is None and self._clean is not None:
            return self._clean
        clean = edit is None and images is None
        images = self.images if images is None else images
        out = []
        self.net.eval()
        with torch.no_grad(), self.context():
            for start in range(0, images.shape[0], self.batch_size):
                where = slice(start, start + self.batch_size)
                batch = images[where]
                out.append(self.net(edit(batch, where) if edit is not None else batch).float())
        found = torch.cat(out) if out else torch.zeros((0, 0), device=images.device)
        if clean:
            self._clean = found
        return found

    def predictions(self, edit: Edit | None = None) -> torch.Tensor:
        return self.logits(edit).argmax(dim=1)

    def accuracy(self, edit: Edit | None = None) -> float:
        """The share of the test images classified right after ``edit``."""
        if self.count == 0:
            return float("nan")
        return float((self.predictions(edit) == self.labels).float().mean())


def per_distance(rows: dict[int, float], name: str) -> dict[str, float]:
    """``{1: 0.9}`` -> ``{"probe/<name>_1px": 0.9}``."""
    return {f"probe/{name}_{d}px": value for d, value in rows.items()}


def label(value: float) -> str:
    """A number in a metric name: ``15`` for 15.0, ``0.9`` for 0.9."""
    return f"{value:g}"
