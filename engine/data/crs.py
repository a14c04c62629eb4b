"""CRS helpers shared by the point and raster readers.

The rule when layers disagree: rasters are expensive to reproject, points are cheap. So a
job works in the overhead raster's CRS and street-view points are reprojected to it
(`transform_xy`); rasters in other CRSs are read through a WarpedVRT to that one CRS
(`open_raster(path, target_crs=...)`). Where metres are needed and the working CRS is
geographic, in feet, or distorts distances (Web Mercator), the local UTM zone is used
(`metric_crs_for_lonlat`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyproj

from engine.errors import EngineError

MAX_SCALE_ERROR = 0.01  # a "metric" CRS must measure distances to within 1 %
CRSLike = Any  # str ("EPSG:4326"), int (EPSG code), pyproj.CRS, rasterio.crs.CRS, WKT


def to_pyproj(crs: CRSLike, what: str = "crs") -> pyproj.CRS:
    """Any CRS description -> pyproj.CRS; EngineError naming `what` when it is not a CRS."""
    if isinstance(crs, pyproj.CRS):
        return crs
    try:
        if hasattr(crs, "to_wkt"):
            return pyproj.CRS.from_wkt(crs.to_wkt())
        return pyproj.CRS.from_user_input(crs)
    except (pyproj.exceptions.CRSError, TypeError, ValueError) as exc:
        raise EngineError(
            f"{what} {crs!r} is not a coordinate reference system ({exc})",
            "give an EPSG code such as 'EPSG:32617' or 4326, or a WKT/PROJ string",
        ) from None


def is_metric(crs: CRSLike) -> bool:
    """True for a projected CRS whose axes are in metres (where distances can be measured)."""
    crs = to_pyproj(crs)
    if not crs.is_projected:
        return False
    units = {axis.unit_name.lower() for axis in crs.axis_info}
    return units <= {"metre", "meter"}


def utm_crs_for_lonlat(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 / UTM zone containing (lon, lat) in degrees (no Norway/Svalbard exceptions)."""
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise EngineError(f"cannot pick a UTM zone for lon={lon}, lat={lat}",
                          "check that the coordinates are finite numbers")
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def scale_error(crs: CRSLike, lon: float, lat: float) -> float:
    """Largest |scale - 1| of a projected CRS at (lon, lat): 0.22 for Web Mercator at 35 N."""
    try:
        factors = pyproj.Proj(to_pyproj(crs)).get_factors(lon, lat)
        return max(abs(factors.meridional_scale - 1.0), abs(factors.parallel_scale - 1.0))
    except (pyproj.exceptions.ProjError, RuntimeError):
        return math.inf


def metric_crs_for_lonlat(lonlat: np.ndarray, crs: CRSLike | None = None) -> pyproj.CRS:
    """A CRS where x, y are true metres around the points `lonlat` (N,2 degrees).

    `crs` itself when it is projected in metres with < 1 % scale error at the centre of the
    points (UTM, state planes in metres, national grids); else the local UTM zone. So Web
    Mercator (EPSG:3857, 22 % too long at 35 N) is not used for distances.
    """
    lonlat = np.asarray(lonlat, dtype="float64").reshape(-1, 2)
    if len(lonlat) == 0:
        raise EngineError("cannot pick a metric CRS for an empty set of points",
                          "give at least one point")
    lon_min, lat_min = np.nanmin(lonlat, axis=0)
    lon_max, lat_max = np.nanmax(lonlat, axis=0)
    lon, lat = (lon_min + lon_max) / 2.0, (lat_min + lat_max) / 2.0
    if crs is not None and is_metric(crs) and scale_error(crs, lon, lat) < MAX_SCALE_ERROR:
        return to_pyproj(crs)
    return utm_crs_for_lonlat(lon, lat)


def transform_xy(xy: np.ndarray, src_crs: CRSLike, dst_crs: CRSLike) -> np.ndarray:
    """Reproject an (N,2) array of x,y (lon,lat for geographic CRSs) from src_crs to dst_crs."""
    xy = np.asarray(xy, dtype="float64").reshape(-1, 2)
    src, dst = to_pyproj(src_crs, "source crs"), to_pyproj(dst_crs, "target crs")
    if src == dst:
        return xy.copy()
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")])


def same_crs(a: CRSLike, b: CRSLike) -> bool:
    """True when two CRS descriptions denote the same system (axis order ignored)."""
    return to_pyproj(a).equals(to_pyproj(b), ignore_axis_order=True)


def check_same_crs(a: CRSLike, b: CRSLike, name_a: str, name_b: str) -> None:
    """EngineError naming both inputs and their CRSs when they differ."""
    if not same_crs(a, b):
        raise EngineError(
            f"{name_a} is in {crs_name(a)} but {name_b} is in {crs_name(b)}",
            "reproject one of them (points: engine.data.crs.transform_xy; rasters: "
            "open_raster(path, target_crs=...)), or in QGIS with Reproject Layer / Warp",
        )


def common_crs(*crs: CRSLike | None) -> pyproj.CRS:
    """The CRS a job should work in: the first given (None entries skipped).

    Callers list rasters first and points last, so points are reprojected to the raster's
    CRS and other rasters are warped to the first raster's CRS.
    """
    given = [c for c in crs if c is not None]
    if not given:
        raise EngineError("no CRS to choose from: every layer lacks a CRS",
                          "assign a CRS to the layers (QGIS: Layer Properties > Source)")
    return to_pyproj(given[0])


def crs_name(crs: CRSLike) -> str:
    """A short human name: 'EPSG:32617' when it has a code, else the CRS name."""
    crs = to_pyproj(crs)
    code = crs.to_authority()
    return f"{code[0]}:{code[1]}" if code else crs.name
