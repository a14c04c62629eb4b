"""MoCo pieces (He et al. 2020; v2: Chen et al. 2020): the momentum encoder and the key queue.

The trainer makes the momentum copy once (`make_momentum_model`) and calls
`update_momentum(model, momentum_model, m)` after every optimizer step.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError
from engine.objectives.gather import all_gather_no_grad


def make_momentum_model(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` (no gradients) to be updated by exponential moving average."""
    momentum = copy.deepcopy(model)
    for p in momentum.parameters():
        p.requires_grad_(False)
    return momentum


@torch.no_grad()
def update_momentum(model: nn.Module, momentum_model: nn.Module, m: float = 0.99) -> None:
    """theta_k <- m * theta_k + (1 - m) * theta_q for parameters; buffers (BN stats) copied."""
    if not 0.0 <= m <= 1.0:
        raise EngineError(f"momentum must be in [0, 1], got {m}", hint="MoCo uses 0.99 or 0.999")
    for p_k, p_q in zip(momentum_model.parameters(), model.parameters(), strict=True):
        p_k.mul_(m).add_(p_q.detach(), alpha=1.0 - m)
    for b_k, b_q in zip(momentum_model.buffers(), model.buffers(), strict=True):
        b_k.copy_(b_q)


class MoCoQueue(nn.Module):
    """A ring buffer of `size` L2-normalised keys (dim `dim`), the MoCo negatives."""

    def __init__(self, dim: int, size: int = 4096, seed: int = 0) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise EngineError(f"MoCo queue needs size >= 1 and dim >= 1 (got {size}, {dim})",
                              hint="e.g. queue_size 4096; 0 means no queue (MoCo v3 style)")
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=gen), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the oldest entries by `keys` (gathered from every rank)."""
        keys = all_gather_no_grad(keys.detach())
        size = self.keys.shape[0]
        if keys.shape[0] > size:
            keys = keys[-size:]
        idx = (self.ptr + torch.arange(keys.shape[0], device=self.keys.device)) % size
        self.keys[idx] = keys.to(self.keys.dtype)
        self.ptr.copy_((self.ptr + keys.shape[0]) % size)


def moco_loss(
    q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor | None, temperature: float
) -> torch.Tensor:
    """MoCo v2 InfoNCE: positive q.k against the queue (or, without one, the in-batch keys)."""
    if queue is None:  # MoCo v3: in-batch keys from the momentum encoder as negatives
        from engine.objectives.infonce import info_nce

        return info_nce(q, k, temperature, symmetric=False)
    l_pos = (q * k).sum(dim=1, keepdim=True)
    l_neg = q @ queue.T
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels)
