"""CSP (Mai et al. 2023) image <-> location objective, a dual encoder in the CLIP style.

loss = CLIP(image, location) with in-batch negatives (plus `num_negatives` sampled locations as
extra negatives for image -> location, uniform on the study-area bbox or on the sphere, drawn
from the global torch RNG)
+ simcse_weight * InfoNCE(location pass 1, location pass 2) (two dropout passes as positives).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import OBJECTIVES
from engine.objectives.base import Objective, StepContext
from engine.objectives.infonce import clip_loss, info_nce

NEGATIVE_MODES = ("bbox", "sphere", "none")


def sample_lonlat(
    n: int, bbox: tuple[float, float, float, float] | None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """n lon,lat points uniform by area in bbox (lon_min, lat_min, lon_max, lat_max) or sphere."""
    lon_min, lat_min, lon_max, lat_max = bbox if bbox is not None else (-180.0, -90.0, 180.0, 90.0)
    u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    lon = lon_min + (lon_max - lon_min) * u[:, 0]
    s0, s1 = math.sin(math.radians(lat_min)), math.sin(math.radians(lat_max))
    lat = torch.rad2deg(torch.asin((s0 + (s1 - s0) * u[:, 1]).clamp(-1.0, 1.0)))
    return torch.stack([lon, lat], dim=1)


@OBJECTIVES.register("image_location")
class ImageLocation(Objective):
    """Image embedding (view1) vs location embedding (lonlat) in one space."""

    requires = ("view1", "lonlat")

    def __init__(
        self,
        temperature: float = 0.1,
        negatives: str = "bbox",
        num_negatives: int = 64,
        bbox: list[float] | None = None,
        simcse_weight: float = 1.0,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if negatives not in NEGATIVE_MODES:
            raise EngineError(f"unknown image_location negatives '{negatives}'",
                              hint=f"use one of: {', '.join(NEGATIVE_MODES)}")
        if bbox is not None and (len(bbox) != 4 or not bbox[0] < bbox[2] or not bbox[1] < bbox[3]):
            raise EngineError(f"image_location bbox must be [lon_min, lat_min, lon_max, lat_max], "
                              f"got {bbox}", hint="degrees, EPSG:4326, longitude first")
        if not temperature > 0:
            raise EngineError(f"image_location temperature must be > 0, got {temperature}",
                              hint="e.g. 0.1")
        self.temperature, self.negatives = float(temperature), negatives
        self.num_negatives, self.simcse_weight = int(num_negatives), float(simcse_weight)
        self.bbox = None if bbox is None else tuple(float(v) for v in bbox)

    def check_model(self, model: nn.Module) -> None:
        if getattr(model, "location_encoder", None) is None:
            raise EngineError("objective image_location needs a model with a location encoder",
                              hint='add "location": {"name": "sphereC"} to the model config')

    def _negatives(self, lonlat: torch.Tensor) -> torch.Tensor | None:
        if self.negatives == "none" or self.num_negatives <= 0:
            return None
        bbox = self.bbox
        if self.negatives == "bbox" and bbox is None:  # the batch's own extent
            lo, hi = lonlat.detach().double().min(0).values, lonlat.detach().double().max(0).values
            bbox = (float(lo[0]), float(lo[1]), float(hi[0]) + 1e-9, float(hi[1]) + 1e-9)
        sphere = self.negatives == "sphere"
        # the global torch RNG: seeded by the trainer and saved in its checkpoints
        return sample_lonlat(self.num_negatives, None if sphere else bbox)

    def forward(self, ctx: StepContext) -> torch.Tensor:
        lonlat = ctx.get("lonlat", "image_location")
        z_img, z_loc = ctx.image("view1"), ctx.location("lonlat")
        neg = self._negatives(lonlat)
        z_neg = None if neg is None else ctx.model.embed_location(neg.to(lonlat.device))
        loss = clip_loss(z_img, z_loc, 1.0 / self.temperature, extra_negatives_b=z_neg)
        if self.simcse_weight > 0:
            z_loc2 = ctx.model.embed_location(lonlat)  # a second dropout pass
            loss = loss + self.simcse_weight * info_nce(z_loc, z_loc2, self.temperature)
        return loss
