"""Batches sliced from in-memory tensors by a shuffled index: no per-sample Python, no collate."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch

Pair = tuple[torch.Tensor, torch.Tensor]


def shard_indices(
    n: int, *, shuffle: bool, seed: int, epoch: int, rank: int, world_size: int, drop_last: bool
) -> torch.Tensor:
    """The indices rank ``rank`` sees this epoch: exactly ``torch.utils.data.DistributedSampler``'s.

    Shuffled with ``seed + epoch``; without ``drop_last`` the permutation is padded by repeating its
    head until it divides evenly, with ``drop_last`` its tail is cut; rank r takes every
    ``world_size``-th index from position r.
    """
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    else:
        order = torch.arange(n)
    if world_size == 1:
        return order
    if drop_last and n % world_size:
        per_rank = math.ceil((n - world_size) / world_size)
    else:
        per_rank = math.ceil(n / world_size)
    total = per_rank * world_size
    if total > n:
        repeats = math.ceil((total - n) / max(n, 1))
        order = torch.cat([order, order.repeat(repeats)[: total - n]])
    else:
        order = order[:total]
    return order[rank:total:world_size]


class TensorBatches:
    """Iterates ``(images, labels)`` batches of ``batch_size`` sliced from tensors that stay where they are.

    Under DDP each rank takes a disjoint shard of the epoch's permutation (see :func:`shard_indices`);
    ``drop_last`` also drops each rank's last partial batch, as ``DataLoader(drop_last=True)`` does.
    """

    def __init__(
        self,
        data: Pair,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self.images, self.labels = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.epoch = epoch

    def indices(self) -> torch.Tensor:
        return shard_indices(
            len(self.labels),
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch(),
            rank=self.rank,
            world_size=self.world_size,
            drop_last=self.drop_last,
        )

    def _per_rank(self) -> int:
        n = len(self.labels)
        if self.world_size == 1:
            return n
        if self.drop_last and n % self.world_size:
            return math.ceil((n - self.world_size) / self.world_size)
        return math.ceil(n / self.world_size)

    def __len__(self) -> int:
        per_rank = self._per_rank()
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def __iter__(self) -> Iterator[Pair]:
        order = self.indices().to(self.labels.device)
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        skip, self._resume_at = self._resume_at, 0
        self._served = skip
        for start in range(skip * self.batch_size, stop, self.batch_size):
            index = order[start : start + self.batch_size]
            self._served += 1
            yield self.images.index_select(0, index), self.labels.index_select(0, index)

    # Lightning saves and restores these with a mid-epoch checkpoint (a "stateful" loader), so a
    # resumed run continues with the next batch of the same permutation instead of restarting the epoch.
    _served = 0
    _resume_at = 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch(), "batches_served": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume_at = int(state.get("batches_served", 0))
