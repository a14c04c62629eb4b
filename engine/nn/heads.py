"""Projection heads: ProjectionHead (SimCLR/MoCo v2 MLP, L2-normalised) and Predictor (MoCo v3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError


def _mlp(in_dim: int, hidden_dim: int, out_dim: int, bn: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not bn)]
    if bn:
        layers.append(nn.BatchNorm1d(hidden_dim))
    layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
    return nn.Sequential(*layers)


class ProjectionHead(nn.Module):
    """Features -> L2-normalised (B, out_dim) embeddings through `kind`: "mlp" (Linear-[BN]-ReLU-
    Linear, SimCLR), "linear" (one Linear: an adapter) or "none" (the features themselves)."""

    def __init__(self, in_dim: int, out_dim: int = 128, hidden_dim: int = 512, bn: bool = True,
                 kind: str = "mlp"):
        super().__init__()
        if kind == "mlp":
            self.net: nn.Module = _mlp(in_dim, hidden_dim, out_dim, bn)
        elif kind == "linear":
            self.net = nn.Linear(in_dim, out_dim)
        elif kind == "none":
            if in_dim != out_dim:
                raise EngineError(f"projection 'none' needs embedding_dim == the backbone's "
                                  f"{in_dim} features, got {out_dim}",
                                  hint=f"set embedding_dim: {in_dim}, or projection: linear")
            self.net = nn.Identity()
        else:
            raise EngineError(f"unknown projection {kind!r}", hint="use mlp, linear or none")
        self.kind, self.out_dim = kind, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)


class Predictor(nn.Module):
    """MoCo v3 / BYOL predictor: the same 2-layer MLP on embeddings, L2-normalised output."""

    def __init__(self, dim: int, hidden_dim: int = 512, bn: bool = True) -> None:
        super().__init__()
        self.net = _mlp(dim, hidden_dim, dim, bn)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(z), dim=1)
