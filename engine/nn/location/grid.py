"""Space2Vec "grid" (Mai et al. 2020): multi-scale sinusoids of lon and lat separately.

For radii r_s from min_radius to max_radius (degrees, geometric): [sin(c/r_s), cos(c/r_s)] for
c in (lon, lat). Not periodic in longitude (a seam at the antimeridian).
"""

from __future__ import annotations

import torch

from engine.nn.location.base import PositionalEncoding, geometric_scales
from engine.nn.registry import LOCATION_ENCODERS


@LOCATION_ENCODERS.register("grid")
class GridEncoding(PositionalEncoding):
    """Space2Vec-grid: 4 * frequency_num features."""

    def __init__(
        self, min_radius: float = 1e-4, max_radius: float = 360.0, frequency_num: int = 16
    ) -> None:
        super().__init__()
        self.register_buffer(
            "radii", geometric_scales(min_radius, max_radius, frequency_num), persistent=False
        )
        self.out_dim = 4 * frequency_num

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        angles = lonlat[:, :, None] / self.radii.to(lonlat)  # (B, 2, S)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=2).flatten(1)
