"""Sphere2Vec "sphereC" (Mai et al. 2023): multi-scale 3D points on the sphere.

Per frequency f_s: [sin(f_s*phi), cos(f_s*phi) cos(f_s*lam), cos(f_s*phi) sin(f_s*lam)] with
phi = lat, lam = lon in radians. f_0 = 1 is the unit-sphere point itself; frequencies are
distinct integers up to 1/min_radius, so the encoding is periodic in longitude.
"""

from __future__ import annotations

import torch

from engine.nn.location.base import PositionalEncoding, integer_frequencies
from engine.nn.registry import LOCATION_ENCODERS


@LOCATION_ENCODERS.register("sphereC")
class SphereCEncoding(PositionalEncoding):
    """sphereC: 3 * frequency_num features; min_radius in degrees (finest scale)."""

    periodic_lon = True

    def __init__(self, min_radius: float = 1e-4, frequency_num: int = 16) -> None:
        super().__init__()
        self.register_buffer(
            "freqs", integer_frequencies(min_radius, frequency_num), persistent=False
        )
        self.out_dim = 3 * frequency_num

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        rad = torch.deg2rad(lonlat)[:, :, None] * self.freqs.to(lonlat)  # (B, 2, S)
        lam, phi = rad[:, 0], rad[:, 1]
        feats = [torch.sin(phi), torch.cos(phi) * torch.cos(lam), torch.cos(phi) * torch.sin(lam)]
        return torch.cat(feats, dim=1)
