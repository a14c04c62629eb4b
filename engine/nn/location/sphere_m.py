"""Sphere2Vec "sphereM" (Mai et al. 2023): multi-scale latitude/longitude mixed with single-scale.

Per frequency f_s: [sin(f_s*phi), cos(f_s*phi) cos(lam), cos(phi) cos(f_s*lam),
cos(f_s*phi) sin(lam), cos(phi) sin(f_s*lam)], phi = lat, lam = lon in radians. Integer
frequencies (1 .. 1/min_radius) keep it periodic in longitude.
"""

from __future__ import annotations

import torch

from engine.nn.location.base import PositionalEncoding, integer_frequencies
from engine.nn.registry import LOCATION_ENCODERS


@LOCATION_ENCODERS.register("sphereM")
class SphereMEncoding(PositionalEncoding):
    """sphereM: 5 * frequency_num features; min_radius in degrees (finest scale)."""

    periodic_lon = True

    def __init__(self, min_radius: float = 1e-4, frequency_num: int = 16) -> None:
        super().__init__()
        self.register_buffer(
            "freqs", integer_frequencies(min_radius, frequency_num), persistent=False
        )
        self.out_dim = 5 * frequency_num

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        rad = torch.deg2rad(lonlat)
        lam1, phi1 = rad[:, :1], rad[:, 1:]  # (B, 1)
        f = self.freqs.to(lonlat)
        lam_s, phi_s = lam1 * f, phi1 * f  # (B, S)
        feats = [
            torch.sin(phi_s),
            torch.cos(phi_s) * torch.cos(lam1),
            torch.cos(phi1) * torch.cos(lam_s),
            torch.cos(phi_s) * torch.sin(lam1),
            torch.cos(phi1) * torch.sin(lam_s),
        ]
        return torch.cat(feats, dim=1)
