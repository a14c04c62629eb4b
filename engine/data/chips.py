"""Chips resampled to a requested pixel size, centred on a map coordinate (boundless)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from rasterio.transform import from_origin
from rasterio.warp import reproject

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.data.rasters import OverheadRaster, RasterWindow


def resampled_chip(raster: OverheadRaster, x: float, y: float, size_px: int,
                   res: float) -> RasterWindow:
    """size_px x size_px chip at `res` CRS units per pixel centred on (x, y), north up.

    The covering source window (plus a 2-pixel margin for the kernel) is read boundless,
    invalid pixels become NaN, and GDAL resamples with the raster's resampling method;
    output pixels with no valid source are invalid.
    """
    from engine.data.rasters import RasterWindow

    if not (math.isfinite(res) and res > 0) or size_px <= 0:
        raise EngineError(f"chip of {size_px} px at {res} units/px is not possible",
                          "use a positive size_px and res")
    half = size_px * res / 2.0
    dst_transform = from_origin(x - half, y + half, res, res)
    corners = np.array([[x - half, y - half], [x - half, y + half],
                        [x + half, y - half], [x + half, y + half]])
    inv = ~raster.transform
    pixels = [inv * (float(cx), float(cy)) for cx, cy in corners]
    cols, rows = [p[0] for p in pixels], [p[1] for p in pixels]
    c0, c1 = math.floor(min(cols)) - 2, math.ceil(max(cols)) + 2
    r0, r1 = math.floor(min(rows)) - 2, math.ceil(max(rows)) + 2
    src = raster.read_window(c0, r0, c1 - c0, r1 - r0)
    source = np.where(src.valid, src.data, np.nan).astype(np.float32)
    dest = np.full((raster.count, size_px, size_px), np.nan, dtype=np.float32)
    reproject(source, dest, src_transform=src.transform, src_crs=raster.crs,
              src_nodata=np.nan, dst_transform=dst_transform, dst_crs=raster.crs,
              dst_nodata=np.nan, resampling=raster.resampling)
    valid = np.isfinite(dest).all(axis=0)
    return RasterWindow(data=np.where(valid, dest, 0.0).astype(np.float32), valid=valid,
                        crs=raster.crs, transform=dst_transform)
