"""Apply a per-pixel function to an embedding-field GeoTIFF, window by window.

The field (one band per embedding dimension, written by engine.embed.raster) is read in
windows with its scale/offset applied; `fn(X (N, D)) -> (N, K)` maps the valid pixels'
vectors to K output values; the output keeps the field's CRS and grid. Memory stays bounded
by the window size, whatever the raster size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

WINDOW = 256  # output pixels per side of a processing window
PixelFn = Callable[[np.ndarray], np.ndarray]


def field_info(path: str | os.PathLike[str]) -> dict:
    """CRS, transform, width, height, count and bounds of an embedding field."""
    from engine.export.fieldio import open_field

    with open_field(path) as ds:
        return {"crs": ds.crs, "transform": ds.transform, "width": ds.width,
                "height": ds.height, "count": ds.count, "bounds": tuple(ds.bounds),
                "descriptions": list(ds.descriptions)}


def _windows(width: int, height: int, size: int):
    from rasterio.windows import Window

    for r in range(0, height, size):
        for c in range(0, width, size):
            yield Window(c, r, min(size, width - c), min(size, height - r))


def map_field(field_path: str | os.PathLike[str], fn: PixelFn, out_tif: str | os.PathLike[str],
              band_names: list[str], progress: Progress = no_progress,
              stage: str = "map", qml_ramp: str | None = "viridis", mask: Any = None) -> Path:
    """Write `fn` of every valid field pixel as a float32 GeoTIFF of len(band_names) bands.

    Invalid pixels (nodata in the field) stay nodata (NaN), and so do pixels outside `mask`
    (engine.embed.mask.PolygonMask, e.g. land only). A `.qml` sidecar styles band 1.
    """
    from rasterio.windows import transform as window_transform

    from engine.export.fieldio import check_embedding_field, open_field, read_field_window
    from engine.export.geotiff import EmbeddingFieldWriter
    from engine.export.styles import raster_pseudocolor_qml, write_qml

    k = len(band_names)
    with open_field(field_path) as ds:
        check_embedding_field(ds, field_path)
        wins = list(_windows(ds.width, ds.height, WINDOW))
        with EmbeddingFieldWriter(out_tif, crs=ds.crs, transform=ds.transform, width=ds.width,
                                  height=ds.height, count=k, dtype="float32",
                                  band_descriptions=band_names,
                                  colorinterp="gray" if k == 1 else None) as writer:
            for i, win in enumerate(wins):
                data, valid = read_field_window(ds, win)
                h, w = valid.shape
                if mask is not None:
                    valid = valid & mask.inside(window_transform(win, ds.transform), (h, w))
                out = np.full((k, h, w), np.nan, dtype=np.float32)
                if valid.any():
                    X = data[:, valid].T.astype(np.float64)
                    Y = np.asarray(fn(X), dtype=np.float64).reshape(len(X), k)
                    out[:, valid] = Y.T
                writer.write(out, int(win.col_off), int(win.row_off))
                progress(i + 1, len(wins), stage)
            lo, hi = float(writer.lo[0]), float(writer.hi[0])
    if not np.isfinite(lo) and mask is not None:
        raise EngineError(f"no valid pixel of the embedding field {field_path} lies inside "
                          f"the mask {mask.path}",
                          "give mask polygons that cover part of the field, or leave --mask "
                          "out")
    if not np.isfinite(lo):
        raise EngineError(f"the embedding field {field_path} has no valid pixel",
                          "embed a raster that overlaps the study area")
    if qml_ramp:
        write_qml(out_tif, raster_pseudocolor_qml(lo, hi if hi > lo else lo + 1e-6,
                                                  ramp=qml_ramp))
    log.info("map %s: %s over %s", out_tif, band_names, field_path)
    return Path(out_tif)


def sample_field(field_path: str | os.PathLike[str], xy: np.ndarray, crs) -> tuple[
        np.ndarray, np.ndarray]:
    """Field vectors at points x, y (in `crs`): (N, D) float64 and valid (N,) bool.

    Each point takes the pixel it falls in; points outside the field or on nodata are
    invalid (their row is NaN).
    """
    from rasterio.windows import Window

    from engine.data.crs import transform_xy
    from engine.export.fieldio import open_field, read_field_window

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    with open_field(field_path) as ds:
        pts = transform_xy(xy, crs, ds.crs) if crs is not None else xy
        cols, rows = ~ds.transform * (pts[:, 0], pts[:, 1])
        cols = np.floor(np.asarray(cols)).astype(np.int64)
        rows = np.floor(np.asarray(rows)).astype(np.int64)
        out = np.full((len(pts), ds.count), np.nan)
        ok = (cols >= 0) & (cols < ds.width) & (rows >= 0) & (rows < ds.height)
        if ok.any():
            r0, r1 = int(rows[ok].min()), int(rows[ok].max()) + 1
            c0, c1 = int(cols[ok].min()), int(cols[ok].max()) + 1
            # read row bands of the bounding box so a few scattered points stay cheap
            for rs in range(r0, r1, WINDOW):
                sel = ok & (rows >= rs) & (rows < min(rs + WINDOW, r1))
                if not sel.any():
                    continue
                win = Window(c0, rs, c1 - c0, min(WINDOW, r1 - rs))
                data, valid = read_field_window(ds, win)
                rr, cc = rows[sel] - rs, cols[sel] - c0
                good = valid[rr, cc]
                idx = np.flatnonzero(sel)
                out[idx[good]] = data[:, rr[good], cc[good]].T
        valid = np.isfinite(out).all(axis=1)
    return out, valid


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    X = np.asarray(X, dtype=np.float64)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1.0)


def field_mean(field_path: str | os.PathLike[str], transform: PixelFn | None = None
               ) -> np.ndarray:
    """Mean vector (D,) float64 over the valid pixels of a field (after `transform`, if
    given), read window by window."""
    from engine.export.fieldio import open_field, read_field_window

    total, n = None, 0
    with open_field(field_path) as ds:
        for win in _windows(ds.width, ds.height, WINDOW):
            data, valid = read_field_window(ds, win)
            X = data[:, valid].T.astype(np.float64)
            s = (transform(X) if transform is not None and len(X) else X).sum(axis=0)
            total = s if total is None else total + s
            n += int(valid.sum())
    if not n:
        raise EngineError(f"the embedding field {field_path} has no valid pixel",
                          "embed a raster that overlaps the study area")
    return total / n
