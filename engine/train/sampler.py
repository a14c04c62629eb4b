"""Which anchors each step visits: seeded epoch permutations, sharded by rank, resumable.

Yields batches of (epoch, index) keys so the dataset seeds its augmentations per
(epoch, index), independent of workers. Like DistributedSampler: `set_epoch` reshuffles,
each rank takes every world-th index of the same permutation, and the epoch is padded
(by wrapping) to a multiple of world * batch_size so every rank runs the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat

import numpy as np
import torch


class KeyBatch(list):
    """One batch of (epoch, index) keys that also carries `epoch` (int) and `indices` (an
    int64 array), so a dataset drawing the whole batch at once reads its indices without a
    Python loop over the keys (engine.train.batch_draw)."""

    def __init__(self, epoch: int, indices: np.ndarray) -> None:
        super().__init__(zip(repeat(epoch), indices.tolist()))
        self.epoch, self.indices = epoch, indices


class EpochBatchSampler:
    """Batches of (epoch, index) for one rank; `start_batch` skips batches already trained."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1,
                 shuffle: bool = True) -> None:
        if n <= 0:
            raise ValueError("no anchors to sample")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world, self.shuffle = rank, world, shuffle
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's permutation, skipping its first `start_batch` batches."""
        self.epoch, self.start_batch = epoch, start_batch

    def batches_per_epoch(self) -> int:
        """Batches each rank runs per epoch (at least one; small sets wrap around)."""
        per_step = self.batch_size * self.world
        return max(1, self.n // per_step)

    def _order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.n)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=g)

    def __len__(self) -> int:
        return self.batches_per_epoch() - self.start_batch

    def __iter__(self) -> Iterator[KeyBatch]:
        order = self._order()
        total = self.batches_per_epoch() * self.batch_size * self.world
        if total > self.n:  # tiny sets: wrap around so every batch is full
            order = order.repeat((total + self.n - 1) // self.n)
        mine = np.asarray(order[:total][self.rank::self.world].numpy(), dtype=np.int64)
        for b in range(self.start_batch, self.batches_per_epoch()):
            yield KeyBatch(self.epoch, mine[b * self.batch_size:(b + 1) * self.batch_size])
