"""This machine's speed, measured once for time estimates (:mod:`experiments.sweeps.time_estimate`).

A LeNet-5-sized network on 32x32 grey images: timed training steps (forward, loss, backward, SGD
update) and timed evaluation batches, each for about a second after a warm-up; the rates are the
network's forward FLOPs per image x images per second.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn


def _network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip


def _images_per_second(step: Any, batch: int, seconds: float, sync: Any) -> float:
    for _ in range(5):  # warm-up
        step()
    sync()
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        done += batch
    sync()
    return done / (time.perf_counter() - start)


def measure_rate(kind: str, seconds: float = 1.0) -> tuple[str, dict[str, Any]]:
    """``(kind, {train_flops_per_s, eval_flops_per_s, source})``; ``auto`` measures the best device."""
    from experiments.models.layer_table import summarize
    from experiments.training.threads import choose_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(choose_threads("auto"))  # as a job picks them: the idle cores
    try:
        return _measure(kind, seconds, summarize)
    finally:
        torch.set_num_threads(threads)


def _measure(kind: str, seconds: float, summarize: Any) -> tuple[str, dict[str, Any]]:
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device("cuda" if kind == "cuda" else "cpu")
    net = _network()
    flops = summarize(net, 1, 32)["totals"]["flops"]
    net = net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.randn(64, 1, 32, 32, device=device), torch.randint(0, 10, (64,), device=device)
    x_eval = torch.randn(1000, 1, 32, 32, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()

    @torch.no_grad()
    def eval_step() -> None:
        net(x_eval).argmax(1)

    train = _images_per_second(train_step, len(x), seconds, sync)
    net.eval()
    evaluate = _images_per_second(eval_step, len(x_eval), seconds / 2, sync)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    return kind, {
        "train_flops_per_s": flops * train,
        "eval_flops_per_s": flops * evaluate,
        "source": f"measured ({name}, LeNet-5-sized network)",
    }
