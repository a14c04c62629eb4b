"""Learned heads on top of a positional encoding: "mlp" (ReLU + dropout) and "siren" (SatCLIP).

Both keep dropout so that two passes in training mode differ (the SimCSE location term).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.nn.registry import Registry

LOCATION_HEADS = Registry("location head")


@LOCATION_HEADS.register("mlp")
class MLPHead(nn.Sequential):
    """`num_layers` hidden Linear-ReLU-Dropout blocks then a Linear to out_dim."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int = 256, num_layers: int = 2,
        dropout: float = 0.1,
    ) -> None:
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(num_layers):
            layers += [nn.Linear(d, hidden_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            d = hidden_dim
        layers.append(nn.Linear(d, out_dim))
        super().__init__(*layers)


class Sine(nn.Module):
    """sin(w0 * x), the SIREN activation."""

    def __init__(self, w0: float) -> None:
        super().__init__()
        self.w0 = w0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.w0 * x)


def _siren_init(layer: nn.Linear, w0: float, first: bool) -> None:
    bound = 1.0 / layer.in_features if first else math.sqrt(6.0 / layer.in_features) / w0
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)


@LOCATION_HEADS.register("siren")
class SirenHead(nn.Sequential):
    """SIREN (Sitzmann et al. 2020) as in SatCLIP: sine-activated layers, linear output."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int = 256, num_layers: int = 2,
        dropout: float = 0.1, w0: float = 1.0, w0_initial: float = 30.0,
    ) -> None:
        layers: list[nn.Module] = []
        d = in_dim
        for i in range(num_layers):
            w = w0_initial if i == 0 else w0
            lin = nn.Linear(d, hidden_dim)
            _siren_init(lin, w, first=i == 0)
            layers += [lin, Sine(w), nn.Dropout(dropout)]
            d = hidden_dim
        last = nn.Linear(d, out_dim)
        _siren_init(last, w0, first=False)
        layers.append(last)
        super().__init__(*layers)
