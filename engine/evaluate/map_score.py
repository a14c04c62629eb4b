"""Map fidelity, the one map scorer: a map vs the sample city's truth raster, on cells far
from every photo.

A zero-shot map is only interesting where there is no photo: cells whose centre lies more
than `min_dist_m` from every photo point. Truth is sampled at each map cell's centre (the
truth rasters are finer than maps); Pearson r is computed over the cells where both exist.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from engine.errors import EngineError
from engine.heads.metrics import pearson, rmse

log = logging.getLogger(__name__)


def cell_centres(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, object]:
    """(values band 1 (H*W,), centres x, y (H*W, 2), crs) of a map GeoTIFF."""
    from rasterio.windows import Window

    from engine.export.fieldio import open_field, read_field_window

    with open_field(path) as ds:
        data, valid = read_field_window(ds, Window(0, 0, ds.width, ds.height))
        rows, cols = np.mgrid[0:ds.height, 0:ds.width]
        xs, ys = ds.transform * (cols.ravel() + 0.5, rows.ravel() + 0.5)
        crs = ds.crs
    values = np.where(valid, data[0], np.nan).ravel().astype(np.float64)
    return values, np.column_stack([xs, ys]), crs


def sample_raster(path: str | os.PathLike[str], xy: np.ndarray, crs: object) -> np.ndarray:
    """Band 1 of a raster at points x, y (in `crs`); NaN outside or on nodata."""
    from engine.maps.field import sample_field

    values, valid = sample_field(path, xy, crs)
    return np.where(valid, values[:, 0], np.nan)


def photo_distance(xy: np.ndarray, photo_xy: np.ndarray) -> np.ndarray:
    """Distance (map units, metres) from each x, y to the nearest photo."""
    from scipy.spatial import cKDTree

    if len(photo_xy) == 0:
        return np.full(len(xy), np.inf)
    d, _ = cKDTree(photo_xy).query(xy, k=1)
    return np.asarray(d, dtype=np.float64)


def map_vs_truth(map_tif: str | os.PathLike[str], truth_tif: str | os.PathLike[str],
                 photo_xy: np.ndarray, photo_crs: object, min_dist_m: float = 30.0) -> dict:
    """Pearson r and RMSE of map vs truth on photo-free cells (r also on all cells)."""
    from engine.data.crs import transform_xy

    values, xy, crs = cell_centres(map_tif)
    truth = sample_raster(truth_tif, xy, crs)
    photos = transform_xy(np.asarray(photo_xy, np.float64), photo_crs, crs)
    dist = photo_distance(xy, photos)
    ok = np.isfinite(values) & np.isfinite(truth)
    free = ok & (dist > min_dist_m)
    if free.sum() < 3:
        raise EngineError(f"only {int(free.sum())} map cells lie more than {min_dist_m:g} m "
                          f"from every photo", "use a finer map (smaller stride) or a smaller "
                          "distance")
    out = {"r_photo_free": pearson(values[free], truth[free]),
           "rmse_photo_free": rmse(values[free], truth[free]),
           "n_photo_free": int(free.sum()), "r_all": pearson(values[ok], truth[ok]),
           "n_all": int(ok.sum()), "min_dist_m": float(min_dist_m)}
    log.info("%s vs %s: r=%.3f on %d photo-free cells", map_tif, truth_tif,
             out["r_photo_free"], out["n_photo_free"])
    return out
