"""Coordinates that cannot be right: outside lon/lat bounds, or outside the CRS's area of use.

A geographic layer (degrees) must have -180 <= lon <= 360 and -90 <= lat <= 90; numbers in
the hundreds of thousands there are projected metres declared as EPSG:4326. A projected layer
must fall inside its CRS's area of use (with a margin of AREA_MARGIN_DEG degrees). Also: does
a raster (or a field) overlap the points / polygons used with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.data.crs import CRSLike, crs_name, to_pyproj, transform_xy
from engine.data.validate import describe_rows
from engine.errors import EngineError

AREA_MARGIN_DEG = 5.0
CRS_HINT = ("declare the layer's real CRS, e.g. `python -m engine import-photos --input LAYER "
            "--crs EPSG:32617 --out fixed.gpkg`, or fix it in QGIS (Layer Properties > Source)")


def _shown(xy: np.ndarray, bad: np.ndarray) -> str:
    return ", ".join(f"({x:.6g}, {y:.6g})" for x, y in xy[bad][:3])


def check_coordinates(xy: np.ndarray, crs: CRSLike, where: str,
                      labels: Sequence[object] | None = None, unit: str = "feature id",
                      hint: str = CRS_HINT) -> None:
    """EngineError naming the rows whose x, y (N, 2) cannot be coordinates in `crs`."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return
    labels = list(labels) if labels is not None else list(range(len(xy)))
    crs = to_pyproj(crs)
    name = crs_name(crs)
    if crs.is_geographic:
        lon, lat = xy[:, 0], xy[:, 1]
        bad = ~((lon >= -180) & (lon <= 360) & (np.abs(lat) <= 90))
        if bad.any():
            looks = " (these look like projected metres)" if np.abs(xy[bad]).max() > 1000 else ""
            raise EngineError(f"{where}: coordinates outside lon -180..360 / lat -90..90 of "
                              f"{name} at {describe_rows(labels, bad, unit)}: "
                              f"{_shown(xy, bad)}{looks}", hint)
        return
    area = crs.area_of_use
    lonlat = transform_xy(xy, crs, "EPSG:4326")
    bad = ~np.isfinite(lonlat).all(axis=1)
    if area is not None:
        m = AREA_MARGIN_DEG
        lon, lat = lonlat[:, 0], lonlat[:, 1]
        west, east = area.west - m, area.east + m
        if west <= east:
            in_lon = (lon >= west) & (lon <= east)
        else:  # an area crossing the antimeridian
            in_lon = (lon >= west) | (lon <= east)
        bad |= ~(in_lon & (lat >= area.south - m) & (lat <= area.north + m))
    if bad.any():
        where_ok = (f" (its area of use: lon {area.west:g}..{area.east:g}, "
                    f"lat {area.south:g}..{area.north:g})") if area is not None else ""
        raise EngineError(f"{where}: coordinates outside the area where {name} is used"
                          f"{where_ok} at {describe_rows(labels, bad, unit)}: "
                          f"{_shown(xy, bad)}", hint)


def bounds_overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when two (xmin, ymin, xmax, ymax) boxes in one CRS share area or touch."""
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def check_overlap(raster_bounds: Sequence[float], raster_crs: CRSLike, raster_name: str,
                  xy: np.ndarray, crs: CRSLike, what: str, hint: str,
                  min_inside: int = 1) -> np.ndarray:
    """EngineError unless at least `min_inside` points x, y (N, 2, in `crs`) fall inside the
    raster's bounds; returns the inside mask."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    own = transform_xy(xy, crs, raster_crs) if crs is not None else xy
    x0, y0, x1, y1 = raster_bounds
    inside = (np.isfinite(own).all(axis=1) & (own[:, 0] >= x0) & (own[:, 0] <= x1)
              & (own[:, 1] >= y0) & (own[:, 1] <= y1))
    if int(inside.sum()) < min_inside:
        raise EngineError(f"{what} do not overlap {raster_name}: {int(inside.sum())} of "
                          f"{len(xy)} inside its extent {tuple(round(v, 1) for v in raster_bounds)}"
                          f" ({crs_name(raster_crs)})", hint)
    return inside
