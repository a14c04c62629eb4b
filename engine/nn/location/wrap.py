"""The "wrap" baseline (Mac Aodha et al. 2019): sin/cos of pi * [lon/180, lat/90].

Periodic in longitude. With `direct=True` the raw [lon/180, lat/90] ("direct") are appended,
which makes it non-periodic (a seam at the antimeridian).
"""

from __future__ import annotations

import math

import torch

from engine.nn.location.base import PositionalEncoding
from engine.nn.registry import LOCATION_ENCODERS


@LOCATION_ENCODERS.register("wrap")
class WrapEncoding(PositionalEncoding):
    """[sin(pi*lon/180), cos(pi*lon/180), sin(pi*lat/90), cos(pi*lat/90)] (+ direct terms)."""

    def __init__(self, direct: bool = False) -> None:
        super().__init__()
        self.direct = direct
        self.out_dim = 6 if direct else 4
        self.periodic_lon = not direct

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        x = lonlat[:, 0] / 180.0
        y = lonlat[:, 1] / 90.0
        feats = [torch.sin(math.pi * x), torch.cos(math.pi * x),
                 torch.sin(math.pi * y), torch.cos(math.pi * y)]
        if self.direct:
            feats += [x, y]
        return torch.stack(feats, dim=1)
