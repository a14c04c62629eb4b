"""Socioeconomic regression from overhead imagery alone: chips on a regular grid over the
city (latest overhead date), mean chip embedding per tract -> each attribute (ridge, spatial
block CV), the overhead twin of tasks.socioeconomic.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from engine.evaluate.context import CityContext
from engine.evaluate.settings import Settings

log = logging.getLogger(__name__)


def grid_chips(ctx: CityContext, chip_px: int,
               spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """(x, y centres (M, 2) in the city CRS, (M, 3, chip, chip) uint8 chips) on a regular grid
    over the city bounds, read once per context from the latest overhead raster."""
    from engine.data.rasters import open_raster
    from engine.evaluate.encoder_run import latest_overhead
    from engine.models.inputs import rgb_uint8

    key = (int(chip_px), float(spacing_m))
    if key not in ctx.chips:
        xmin, ymin, xmax, ymax = (float(v) for v in ctx.manifest["bounds"])
        xs = np.arange(xmin + spacing_m / 2, xmax, spacing_m)
        ys = np.arange(ymin + spacing_m / 2, ymax, spacing_m)
        gx, gy = np.meshgrid(xs, ys)
        xy = np.column_stack([gx.ravel(), gy.ravel()])
        chips = np.zeros((len(xy), 3, chip_px, chip_px), np.uint8)
        with open_raster(latest_overhead(ctx.city), target_crs=None) as ras:
            for i, (x, y) in enumerate(xy):
                win = ras.read_centered(float(x), float(y), chip_px)
                chips[i] = rgb_uint8(win.data, win.valid)
        log.info("read %d overhead chips of %d px on a %.0f m grid", len(xy), chip_px, spacing_m)
        ctx.chips[key] = (xy, chips)
    return ctx.chips[key]


def grid_features(embedder: Any, key: str, ctx: CityContext,
                  s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """(x, y centres (M, 2), (M, D) embeddings) of the overhead grid's chips (every
    Settings.overhead_grid_m), computed once per context and `key` (the fusion rows reuse the
    overhead baseline's vectors)."""
    xy, chips = grid_chips(ctx, s.chip_px, s.overhead_grid_m)
    cached = (key, s.chip_px, float(s.overhead_grid_m))
    if cached not in ctx.grid_features:
        ctx.grid_features[cached] = np.asarray(embedder.embed_chips(chips), np.float32)
    return xy, ctx.grid_features[cached]


def socioeconomic_overhead(embedder: Any, key: str, ctx: CityContext,
                           s: Settings) -> list[dict]:
    """Per tract mean overhead-chip embedding -> income, poverty share, density."""
    import geopandas as gpd

    from engine.evaluate.tasks import socio_rows

    if not getattr(embedder, "has_overhead", False):
        return []
    xy, feats = grid_features(embedder, key, ctx, s)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=ctx.crs)
    return socio_rows("socioeconomic_overhead", ctx, feats, s, points)
