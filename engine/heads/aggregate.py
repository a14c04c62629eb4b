"""Polygon labels meet point or pixel embeddings: the mean embedding inside each polygon.

Pixels: every field cell whose centre lies inside the polygon; a polygon smaller than a cell
(no centre inside) takes the cells it touches, weighted by the area of overlap, so every
polygon the field covers gets an embedding. How many polygons each cell serves is reported
(`cell_use`): a cell shared by many polygons makes their rows near duplicates.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import partial

import numpy as np

from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

# an embedding-field file up to this size (as float32) is read at once, a larger one polygon
# window by polygon window
IN_MEMORY_BYTES = 256 * 2**20


@dataclass
class PolygonEmbeddings:
    """Row i: polygon ids[i], its mean embedding (NaN when nothing fell inside), the count."""

    ids: np.ndarray
    embeddings: np.ndarray  # (P, D) float64
    counts: np.ndarray      # (P,) int64: points or valid pixels averaged
    weighted: np.ndarray | None = None  # (P,) bool: area-weighted touched cells (small)
    cell_use: dict | None = None        # how many polygons each used cell serves

    @property
    def covered(self) -> np.ndarray:
        """Polygons that received at least one point / pixel."""
        return self.counts > 0


def _polygon_ids(polygons, id_field: str | None) -> np.ndarray:
    if id_field is None:
        return np.asarray(polygons.index)
    if id_field not in polygons.columns:
        raise EngineError(f"polygon layer has no field {id_field!r}",
                          f"choose one of: {', '.join(map(str, polygons.columns))}")
    return np.asarray(polygons[id_field])


def _check_polygons(polygons) -> None:
    if polygons.crs is None:
        raise EngineError("the polygon layer has no CRS", "assign its CRS in QGIS and re-save it")
    kinds = set(polygons.geom_type.dropna().unique())
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise EngineError(f"the polygon layer holds {sorted(kinds)} geometries",
                          "pass a Polygon / MultiPolygon layer (e.g. tracts)")


def aggregate_points(points, embeddings: np.ndarray, polygons,
                     id_field: str | None = None) -> PolygonEmbeddings:
    """Mean of the embeddings of the points inside each polygon (geopandas sjoin).

    A point on a shared edge counts for the first polygon it touches only.
    """
    import geopandas as gpd

    _check_polygons(polygons)
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2 or len(emb) != len(points):
        raise EngineError(f"{len(points)} points but embeddings of shape {emb.shape}",
                          "pass one embedding row per point, in the layer's order")
    if points.crs is None:
        raise EngineError("the point layer has no CRS", "assign its CRS and re-save it")
    polys = polygons.to_crs(points.crs) if polygons.crs != points.crs else polygons
    left = gpd.GeoDataFrame({"_row": np.arange(len(points))}, geometry=points.geometry.values,
                            crs=points.crs)
    right = gpd.GeoDataFrame({"_poly": np.arange(len(polys))}, geometry=polys.geometry.values,
                             crs=points.crs)
    joined = gpd.sjoin(left, right, how="inner", predicate="intersects")
    joined = joined.sort_values(["_row", "_poly"]).drop_duplicates("_row")
    rows = joined["_row"].to_numpy()
    poly = joined["_poly"].to_numpy()
    n_poly = len(polys)
    counts = np.bincount(poly, minlength=n_poly).astype(np.int64)
    sums = np.zeros((n_poly, emb.shape[1]))
    np.add.at(sums, poly, emb[rows])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = np.nan
    log.info("aggregated %d of %d points into %d polygons (%d empty)", len(rows), len(points),
             n_poly, int((counts == 0).sum()))
    return PolygonEmbeddings(_polygon_ids(polygons, id_field), means, counts)


def _touched_weights(geom, win_transform, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) area of overlap of `geom` with each cell of the window (0 for cells apart)."""
    import shapely
    from rasterio.features import geometry_mask

    touched = geometry_mask([geom], out_shape=shape, transform=win_transform, invert=True,
                            all_touched=True)
    out = np.zeros(shape, dtype=np.float64)
    rows, cols = np.nonzero(touched)
    if len(rows):
        x0, y0 = win_transform * (cols, rows)
        x1, y1 = win_transform * (cols + 1, rows + 1)
        boxes = shapely.box(np.minimum(x0, x1), np.minimum(y0, y1), np.maximum(x0, x1),
                            np.maximum(y0, y1))
        out[rows, cols] = shapely.area(shapely.intersection(boxes, geom))
    return out


def cell_use_summary(use: np.ndarray) -> dict:
    """How many polygons the used cells serve: cells used, mean and max, cells shared."""
    used = use[use > 0]
    if used.size == 0:
        return {"cells_used": 0, "polygons_per_cell_mean": 0.0, "polygons_per_cell_max": 0,
                "cells_serving_several_polygons": 0}
    return {"cells_used": int(used.size), "polygons_per_cell_mean": round(float(used.mean()), 3),
            "polygons_per_cell_max": int(used.max()),
            "cells_serving_several_polygons": int((used > 1).sum())}


def _cells_over(bounds, transform, full):
    """The whole-cell window of `full` covering `bounds` (xmin, ymin, xmax, ymax), None when
    apart: from all four corners, so a south-up grid (positive y pixel size) is covered too
    (rasterio's from_bounds assumes north-up and gives it an empty window)."""
    from rasterio.errors import WindowError
    from rasterio.windows import Window

    inv = ~transform
    cols, rows = zip(*(inv * (x, y) for x in (bounds[0], bounds[2])
                       for y in (bounds[1], bounds[3])), strict=True)
    c0, r0 = int(np.floor(min(cols))), int(np.floor(min(rows)))
    win = Window(c0, r0, int(np.ceil(max(cols))) - c0, int(np.ceil(max(rows))) - r0)
    try:
        return win.intersection(full)
    except WindowError:  # they do not overlap
        return None


def _accumulate(read, height: int, width: int, transform, polys, progress: Progress):
    """Per polygon: read the window over its bounds, mask to pixel centres inside, average;
    no centre inside: the touched cells, weighted by overlap area. Returns (means, counts,
    weighted, cell use)."""
    from rasterio.features import geometry_mask
    from rasterio.windows import Window
    from rasterio.windows import transform as window_transform

    means, counts, weighted = [], [], []
    use = np.zeros((height, width), dtype=np.int32)
    full = Window(0, 0, width, height)
    for i, geom in enumerate(polys.geometry.values):
        win = None
        if geom is not None and not geom.is_empty:
            win = _cells_over(geom.bounds, transform, full)
        weighted.append(False)
        if win is None or win.width < 1 or win.height < 1:
            means.append(None)
            counts.append(0)
            progress(i + 1, len(polys), "aggregate")
            continue
        data, valid = read(win)
        shape, wt = (int(win.height), int(win.width)), window_transform(win, transform)
        inside = geometry_mask([geom], out_shape=shape, transform=wt, invert=True)
        sel = inside & valid
        n = int(sel.sum())
        mean = data[:, sel].mean(axis=1, dtype=np.float64) if n else None
        if not n:  # smaller than a cell, or thin: the touched cells by overlap area
            area = _touched_weights(geom, wt, shape) * valid
            sel = area > 0
            n = int(sel.sum())
            if n:
                w = area[sel] / area[sel].sum()
                mean = (data[:, sel].astype(np.float64) * w[None]).sum(axis=1)
                weighted[-1] = True
        r0, c0 = int(win.row_off), int(win.col_off)
        use[r0:r0 + shape[0], c0:c0 + shape[1]] += sel
        counts.append(n)
        means.append(mean)
        progress(i + 1, len(polys), "aggregate")
    dim = next((m.shape[0] for m in means if m is not None), 0)
    out = np.full((len(means), dim), np.nan)
    for i, m in enumerate(means):
        if m is not None:
            out[i] = m
    n_weighted = int(np.sum(weighted))
    if n_weighted:
        log.info("%d polygon(s) smaller than a field cell: area-weighted touched cells",
                 n_weighted)
    return (out, np.asarray(counts, dtype=np.int64), np.asarray(weighted, dtype=bool),
            cell_use_summary(use))


def _in_memory(field: np.ndarray, valid: np.ndarray):
    """read(window) -> (field, valid) of the window, sliced from arrays held in memory."""
    def read(win):
        r, c = slice(int(win.row_off), int(win.row_off + win.height)), \
            slice(int(win.col_off), int(win.col_off + win.width))
        return field[:, r, c], valid[r, c]

    return read


def aggregate_pixels(field: np.ndarray, transform, crs, polygons,
                     valid: np.ndarray | None = None, id_field: str | None = None,
                     progress: Progress = no_progress) -> PolygonEmbeddings:
    """Mean embedding of the valid pixels (C, H, W) whose centres fall in each polygon."""
    _check_polygons(polygons)
    field = np.asarray(field)
    if field.ndim != 3:
        raise EngineError(f"a pixel field must be (bands, rows, cols), got shape {field.shape}",
                          "pass the embedding field's array with its transform and CRS")
    if valid is None:
        valid = np.isfinite(field).all(axis=0)
    polys = polygons.to_crs(crs) if polygons.crs != crs else polygons
    means, counts, weighted, use = _accumulate(_in_memory(field, valid), field.shape[1],
                                               field.shape[2], transform, polys, progress)
    return PolygonEmbeddings(_polygon_ids(polygons, id_field), means, counts, weighted, use)


def aggregate_field_file(path: str | os.PathLike[str], polygons, id_field: str | None = None,
                         progress: Progress = no_progress) -> PolygonEmbeddings:
    """Like `aggregate_pixels` for an embedding-field GeoTIFF (band scale/offset applied,
    nodata and NaN treated as invalid), read at once up to IN_MEMORY_BYTES, else polygon
    window by polygon window."""
    from rasterio.windows import Window

    from engine.export.geotiff import open_field, read_field_window

    _check_polygons(polygons)
    with open_field(path) as ds:
        polys = polygons.to_crs(ds.crs) if polygons.crs != ds.crs else polygons
        # one read when small: a window read of a many-band field costs ms however small
        read = (_in_memory(*read_field_window(ds, Window(0, 0, ds.width, ds.height)))
                if ds.count * ds.height * ds.width * 4 <= IN_MEMORY_BYTES
                else partial(read_field_window, ds))
        means, counts, weighted, use = _accumulate(read, ds.height, ds.width, ds.transform,
                                                   polys, progress)
    return PolygonEmbeddings(_polygon_ids(polygons, id_field), means, counts, weighted, use)
