"""GeoCLIP's encoding: Equal Earth (or lon/lat) projection + multi-scale random Fourier features.

For each sigma in `sigmas` (GeoCLIP: 2^0, 2^4, 2^8) a fixed Gaussian matrix B_sigma ~ N(0, sigma^2)
(num_features x 2, drawn from `seed`, stored as a buffer) maps the projected point v to
[cos(2 pi B v), sin(2 pi B v)]. GeoCLIP sums one MLP per scale; here the scales are concatenated
and one head reads them. Not periodic in longitude (the projection has a seam at +-180).
"""

from __future__ import annotations

import math

import torch

from engine.errors import EngineError
from engine.nn.location.base import PositionalEncoding
from engine.nn.registry import LOCATION_ENCODERS

# Equal Earth projection constants (Savric, Patterson & Jenny 2018)
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3.0) / 2.0
_X_MAX = 2.0 * math.sqrt(3.0) * math.pi / (3.0 * _A1)  # x at lon=180, lat=0 (unit sphere)


def equal_earth(lonlat: torch.Tensor) -> torch.Tensor:
    """Equal Earth x, y on the unit sphere, scaled so x is in [-1, 1] (y within about +-0.5)."""
    lam = torch.deg2rad(lonlat[:, 0])
    phi = torch.deg2rad(lonlat[:, 1])
    theta = torch.asin(_M * torch.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    denom = 3.0 * (_A1 + 3 * _A2 * t2 + t6 * (7 * _A3 + 9 * _A4 * t2))
    x = 2.0 * math.sqrt(3.0) * lam * torch.cos(theta) / denom
    y = theta * (_A1 + _A2 * t2 + t6 * (_A3 + _A4 * t2))
    return torch.stack([x, y], dim=1) / _X_MAX


def plate_carree(lonlat: torch.Tensor) -> torch.Tensor:
    """lon/180, lat/180 (same scale on both axes)."""
    return lonlat / 180.0


_PROJECTIONS = {"equal_earth": equal_earth, "lonlat": plate_carree}


@LOCATION_ENCODERS.register("rff")
class RandomFourierEncoding(PositionalEncoding):
    """2 * num_features * len(sigmas) features; the Gaussian matrices are fixed by `seed`."""

    def __init__(
        self,
        projection: str = "equal_earth",
        sigmas: tuple[float, ...] | list[float] = (2.0**0, 2.0**4, 2.0**8),
        num_features: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if projection not in _PROJECTIONS:
            raise EngineError(
                f"unknown projection '{projection}' for the rff location encoder",
                hint=f"use one of: {', '.join(_PROJECTIONS)}",
            )
        if not sigmas or any(s <= 0 for s in sigmas) or num_features < 1:
            raise EngineError(
                f"rff needs positive sigmas and num_features (got {list(sigmas)}, {num_features})",
                hint="GeoCLIP uses sigmas [1, 16, 256] and 256 features",
            )
        self.projection = projection
        gen = torch.Generator().manual_seed(int(seed))
        mats = [
            torch.randn(num_features, 2, generator=gen, dtype=torch.float64) * s for s in sigmas
        ]
        self.register_buffer("b_matrices", torch.stack(mats))  # (n_sigmas, F, 2)
        self.out_dim = 2 * num_features * len(sigmas)

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        v = _PROJECTIONS[self.projection](lonlat)  # (B, 2)
        proj = 2 * math.pi * torch.einsum("bd,sfd->bsf", v, self.b_matrices.to(v))
        return torch.cat([torch.cos(proj), torch.sin(proj)], dim=2).flatten(1)
