"""InfoNCE / CLIP losses on L2-normalised embeddings, with in-batch negatives from every rank.

Row i of `a` is the positive of row i of `b`; every other row of `b` (on every rank) is a
negative. The symmetric loss averages a->b and b->a (SimCLR / CLIP / SatCLIP's loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.objectives.gather import all_gather_with_grad, rank_and_world


def _one_way(
    q: torch.Tensor, k_all: torch.Tensor, scale: torch.Tensor | float,
    extra: torch.Tensor | None,
) -> torch.Tensor:
    rank, _ = rank_and_world()
    labels = torch.arange(q.shape[0], device=q.device) + rank * q.shape[0]
    logits = q @ k_all.T
    if extra is not None and extra.shape[0] > 0:
        logits = torch.cat([logits, q @ extra.T], dim=1)
    return F.cross_entropy(logits * scale, labels)


def clip_loss(
    a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float, symmetric: bool = True,
    extra_negatives_b: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy over `scale * a @ b.T` (gathered across ranks); optional extra negatives
    for the a->b direction (e.g. sampled locations, not gathered)."""
    a_all, b_all = all_gather_with_grad(a), all_gather_with_grad(b)
    loss = _one_way(a, b_all, scale, extra_negatives_b)
    if symmetric:
        loss = 0.5 * (loss + _one_way(b, a_all, scale, None))
    return loss


def info_nce(
    a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1, symmetric: bool = True
) -> torch.Tensor:
    """Symmetric InfoNCE with temperature: -log softmax(a_i . b_j / T)[i], averaged."""
    return clip_loss(a, b, 1.0 / temperature, symmetric=symmetric)
