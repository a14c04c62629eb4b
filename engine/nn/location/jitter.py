"""Symmetric coordinate jitter in metres (zero-mean; never one-sided torch.rand)."""

from __future__ import annotations

import math

import torch

from engine.errors import EngineError
from engine.nn.location.base import EARTH_RADIUS_M, validate_lonlat, wrap_lon

_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0


def jitter_lonlat(
    lonlat: torch.Tensor,
    metres: float,
    generator: torch.Generator | None = None,
    distribution: str = "normal",
) -> torch.Tensor:
    """Shift each lon,lat point by a random east/north offset in metres, zero-mean.

    "normal": offsets ~ N(0, metres^2) per axis; "uniform": offsets ~ U[-metres, metres].
    Points pushed over a pole come back down the other side (lon + 180); lon wraps to
    [-180, 180). Returns float64 (B, 2) lon, lat degrees.
    """
    ll = validate_lonlat(lonlat)
    if metres < 0 or not math.isfinite(metres):
        raise EngineError(f"jitter must be a finite distance >= 0 metres, got {metres}",
                          hint="e.g. 10 for street-view GPS error")
    if metres == 0:
        return ll.clone()
    shape = (ll.shape[0], 2)
    kw = {"generator": generator, "dtype": torch.float64}
    if distribution == "normal":
        offset = torch.randn(shape, **kw) * metres
    elif distribution == "uniform":
        offset = (torch.rand(shape, **kw) * 2.0 - 1.0) * metres
    else:
        raise EngineError(f"unknown jitter distribution '{distribution}'",
                          hint="use 'normal' or 'uniform'")
    offset = offset.to(ll.device)
    lat = ll[:, 1] + offset[:, 1] / _M_PER_DEG
    coslat = torch.cos(torch.deg2rad(ll[:, 1])).clamp_min(1e-9)
    lon = ll[:, 0] + offset[:, 0] / (_M_PER_DEG * coslat)
    over = lat.abs() > 90.0
    lat = torch.where(over, torch.sign(lat) * 180.0 - lat, lat)
    lon = torch.where(over, lon + 180.0, lon)
    return torch.stack([wrap_lon(lon), lat], dim=1)
