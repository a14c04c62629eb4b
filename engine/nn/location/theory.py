"""Space2Vec "theory" (Mai et al. 2020): sinusoids of projections on 3 unit vectors 120 deg apart.

For radii r_s (degrees, geometric) and a_j in {0, 120, 240} degrees: [sin(<x,a_j>/r_s),
cos(<x,a_j>/r_s)] with x = (lon, lat). Not periodic in longitude.
"""

from __future__ import annotations

import math

import torch

from engine.nn.location.base import PositionalEncoding, geometric_scales
from engine.nn.registry import LOCATION_ENCODERS


@LOCATION_ENCODERS.register("theory")
class TheoryEncoding(PositionalEncoding):
    """Space2Vec-theory: 6 * frequency_num features."""

    def __init__(
        self, min_radius: float = 1e-4, max_radius: float = 360.0, frequency_num: int = 16
    ) -> None:
        super().__init__()
        self.register_buffer(
            "radii", geometric_scales(min_radius, max_radius, frequency_num), persistent=False
        )
        angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3], dtype=torch.float64)
        self.register_buffer(
            "unit_vectors", torch.stack([angles.cos(), angles.sin()], dim=1), persistent=False
        )
        self.out_dim = 6 * frequency_num

    def forward(self, lonlat: torch.Tensor) -> torch.Tensor:
        proj = lonlat @ self.unit_vectors.to(lonlat).T  # (B, 3)
        angles = proj[:, :, None] / self.radii.to(lonlat)  # (B, 3, S)
        return torch.cat([torch.sin(angles), torch.cos(angles)], dim=2).flatten(1)
