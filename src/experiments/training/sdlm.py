"""Stochastic diagonal Levenberg-Marquardt (LeCun, Bottou, Bengio and Haffner 1998, Appendix C).

Each parameter ``w_k`` gets its own step size ``eta / (mu + h_kk)``, where ``h_kk`` is an estimate of the
diagonal of the Gauss-Newton matrix, made before each pass over a few hundred training samples and kept
for the pass. The paper back-propagates second derivatives layer by layer, dropping the off-diagonal
terms; here the diagonal of the Gauss-Newton matrix ``J^T H J`` (``H``: the loss's Hessian in the network
outputs, positive semi-definite for cross-entropy and the MAP criterion) is estimated without bias, for
any network and loss: per sample, ``(J^T z)^2`` with ``z ~ N(0, H)`` (``torch.func``: per-sample
vector-Jacobian products under ``vmap``). The module runs the estimate at the start of every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

#: Samples per ``vmap`` chunk: per-sample gradients of a chunk live in memory at once.
CHUNK = 32


class SDLM(torch.optim.Optimizer):
    """``w -= lr * grad / (mu + h)``, with ``h`` set by :meth:`set_curvature` before each pass."""

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float = 5e-4, mu: float = 0.02, samples: int = 500
    ) -> None:
        if lr <= 0 or mu <= 0 or samples < 1:
            raise ValueError(f"SDLM needs lr > 0, mu > 0 and samples >= 1; got {lr}, {mu}, {samples}")
        super().__init__(params, {"lr": lr, "mu": mu})
        self.samples = samples

    def set_curvature(self, curvature: dict[torch.Tensor, torch.Tensor]) -> None:
        """The estimated Gauss-Newton diagonal of each parameter (same shape), used until the next call."""
        for param, value in curvature.items():
            self.state[param]["curvature"] = value.detach().to(param.device, param.dtype)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                curvature = self.state[param].get("curvature")
                if curvature is None:
                    raise RuntimeError(
                        "optimizer=sdlm needs a curvature estimate before its first step; the training "
                        "module makes one at the start of each epoch (estimate_curvature)"
                    )
                param.addcdiv_(param.grad, curvature + group["mu"], value=-group["lr"])
        return loss


def gauss_newton_diagonal(
    net: nn.Module, loss: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Mean over the samples of an unbiased estimate of diag(J^T H J), per trainable parameter name."""
    from torch.func import functional_call, grad, jacrev, vmap

    params = {name: p.detach() for name, p in net.named_parameters() if p.requires_grad}
    buffers = dict(net.named_buffers())
    # A network may hand a parameter-free last layer to the loss side (LeNet-5's RBF units).
    head = getattr(net, "curvature_head", None)
    body = {"body_only": True} if head is not None else {}

    def output(values: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return functional_call(net, (values, buffers), (image.unsqueeze(0),), body).squeeze(0)

    def sample_loss(out: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        out = out.unsqueeze(0)
        return loss(head(out) if head is not None else out, label.unsqueeze(0))

    def probe(values: dict[str, torch.Tensor], image: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return (output(values, image) * z).sum()

    totals = {name: torch.zeros_like(p) for name, p in params.items()}
    for start in range(0, len(images), CHUNK):
        x, y = images[start : start + CHUNK], labels[start : start + CHUNK]
        with torch.no_grad():
            outputs = functional_call(net, (params, buffers), (x,), body)
        # reverse over reverse: torch.func.hessian's forward mode loads torch's JIT decompositions (a warning)
        h = vmap(jacrev(jacrev(sample_loss)))(outputs, y)  # (B, K, K), positive semi-definite
        values, vectors = torch.linalg.eigh(h)
        root = vectors * values.clamp(min=0).sqrt().unsqueeze(1)  # root @ root^T = H
        z = (root @ torch.randn(*outputs.shape, 1, device=outputs.device, dtype=outputs.dtype)).squeeze(-1)
        grads = vmap(grad(probe), in_dims=(None, 0, 0))(params, x, z)
        for name, g in grads.items():
            totals[name] += g.pow(2).sum(0)
    return {name: total / len(images) for name, total in totals.items()}


def curvature_samples(trainer: Any, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``count`` training samples of this epoch's order, prepared as the model sees them
    (normalised on the device; not augmented)."""
    images, labels = [], []
    have = 0
    for batch_images, batch_labels in trainer.train_dataloader:
        images.append(batch_images)
        labels.append(batch_labels)
        have += len(batch_labels)
        if have >= count:
            break
    device = trainer.strategy.root_device
    x, y = torch.cat(images)[:count].to(device), torch.cat(labels)[:count].to(device)
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is not None and hasattr(datamodule, "transform") and x.dtype == torch.uint8:
        x = datamodule.transform(x, train=False)
    return x, y


def estimate_curvature(optimizer: SDLM, net: nn.Module, loss: nn.Module, trainer: Any) -> None:
    """Estimate the Gauss-Newton diagonal on ``optimizer.samples`` training samples and hand it over."""
    images, labels = curvature_samples(trainer, optimizer.samples)
    was_training = net.training
    net.eval()  # no dropout noise and no batch-norm statistics update in the estimate
    try:
        diagonal = gauss_newton_diagonal(net, loss, images, labels)
    finally:
        net.train(was_training)
    named = dict(net.named_parameters())
    optimizer.set_curvature({named[name]: value for name, value in diagonal.items()})
