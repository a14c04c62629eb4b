"""Shared pieces of the location encoders: input checks, lon wrapping, scale series, the wrapper.

A location encoder = a positional encoding (a fixed, parameter-free map of lon/lat to features,
one family per module) + a learned head (MLP or SIREN) -> (B, out_dim).
Positional encodings compute in float64: pass float64 lon/lat for sub-metre resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.errors import EngineError

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres


def validate_lonlat(lonlat: torch.Tensor) -> torch.Tensor:
    """Check a (B,2) lon,lat degree tensor (finite, lat in [-90,90]); return it as float64."""
    if not isinstance(lonlat, torch.Tensor) or lonlat.ndim != 2 or lonlat.shape[1] != 2:
        shape = tuple(lonlat.shape) if isinstance(lonlat, torch.Tensor) else type(lonlat).__name__
        raise EngineError(
            f"location input must be a (B, 2) tensor of lon, lat degrees, got {shape}",
            hint="stack the coordinates as [[lon, lat], ...] (longitude first, EPSG:4326)",
        )
    ll = lonlat.detach().to(torch.float64)
    lat = ll[:, 1]
    nonfinite = ~torch.isfinite(ll).all(dim=1)
    out = (lat < -90.0) | (lat > 90.0)
    if not bool((nonfinite | out).any()):  # one read-back (on a GPU, one wait) when all is well
        return lonlat.to(torch.float64)
    if bool(nonfinite.any()):
        row = int(nonfinite.nonzero()[0, 0])
        raise EngineError(
            f"location row {row} is not finite: lon, lat = {ll[row].tolist()}",
            hint="drop or fill rows with missing coordinates before encoding",
        )
    row = int(out.nonzero()[0, 0])
    raise EngineError(
        f"location row {row} has latitude {float(lat[row])} outside [-90, 90]",
        hint="coordinates must be lon, lat degrees in EPSG:4326, longitude first "
        "(swapped columns or projected metres give this error)",
    )


def wrap_lon(lon: torch.Tensor) -> torch.Tensor:
    """Wrap longitudes (degrees) into [-180, 180)."""
    return torch.remainder(lon + 180.0, 360.0) - 180.0


def geometric_scales(min_radius: float, max_radius: float, num: int) -> torch.Tensor:
    """`num` radii from min_radius to max_radius in geometric progression (float64)."""
    if not (0 < min_radius < max_radius) or num < 1:
        raise EngineError(
            f"need 0 < min_radius < max_radius and frequency_num >= 1 "
            f"(got {min_radius}, {max_radius}, {num})",
            hint="radii are in degrees, e.g. min_radius=1e-4 (about 11 m), max_radius=360",
        )
    if num == 1:
        return torch.tensor([max_radius], dtype=torch.float64)
    s = torch.arange(num, dtype=torch.float64) / (num - 1)
    return min_radius * (max_radius / min_radius) ** s


def integer_frequencies(min_radius: float, num: int) -> torch.Tensor:
    """`num` distinct integer angular frequencies from 1 (the whole sphere) to 1/min_radius (rad).

    Integer frequencies keep sin/cos of longitude periodic over 360 degrees, so the encoding is
    continuous across the antimeridian; min_radius is in degrees (1e-4 deg is about 11 m).
    """
    f_max = 180.0 / (math.pi * min_radius)
    if f_max <= 1 or num < 1:
        raise EngineError(
            f"min_radius {min_radius} degrees is too coarse for {num} frequencies",
            hint="use a min_radius well below 57 degrees, e.g. 1e-4",
        )
    raw = torch.logspace(0, math.log10(f_max), num, dtype=torch.float64) if num > 1 else [1.0]
    freqs: list[float] = []
    for f in (raw.tolist() if isinstance(raw, torch.Tensor) else raw):
        freqs.append(float(max(round(f), freqs[-1] + 1)) if freqs else float(round(f)))
    return torch.tensor(freqs, dtype=torch.float64)


class PositionalEncoding(nn.Module):
    """Base class: `forward(lonlat (B,2) float64 degrees) -> (B, out_dim)` float64 features.

    Subclasses set `out_dim`, `periodic_lon` (True when lon and lon+360 give the same output and
    the output is continuous across the antimeridian) and `default_head` ("mlp" or "siren").
    """

    out_dim: int
    periodic_lon: bool = False
    default_head: str = "mlp"


class LocationEncoder(nn.Module):
    """Positional encoding + learned head: (B,2) lon,lat degrees -> (B, out_dim) float32."""

    def __init__(self, encoding: PositionalEncoding, head: nn.Module, out_dim: int) -> None:
        super().__init__()
        self.encoding = encoding
        self.head = head
        self.out_dim = out_dim
        self.periodic_lon = encoding.periodic_lon

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        ll = validate_lonlat(lonlat)
        ll = torch.stack([wrap_lon(ll[:, 0]), ll[:, 1]], dim=1)
        feats = self.encoding(ll)
        dtype = next(self.head.parameters()).dtype
        return self.head(feats.to(dtype))
