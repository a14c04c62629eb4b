"""Location-encoder embeddings: over a regular grid (a GeoTIFF field) or at points (a GeoPackage).

Every input is converted to lon, lat degrees (EPSG:4326, longitude first) before the encoder.
Grid: `bounds` (xmin, ymin, xmax, ymax) in `crs`, cells of `step_m` metres, laid out in a
metric CRS - `crs` itself when it is projected in metres with < 1 % scale error, else the
local UTM zone (engine.data.crs.metric_crs_for_lonlat) - north up, origin at (xmin, ymax) of
the bounds in that CRS; a cell's embedding is the location of its centre. Rows stream to the
writer in bands, so memory stays bounded. Points: any point layer; output layer "embeddings"
in the layer's CRS with its fields and the BLOB column (read_point_embeddings reads it).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.crs import CRSLike, crs_name, metric_crs_for_lonlat, to_pyproj, transform_xy
from engine.defaults import DEVICE, FIELD_DTYPE
from engine.embed.common import field_tags
from engine.errors import EngineError
from engine.models.device import resolve_device
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

MAX_CELLS = 400_000_000
COMMAND = "embed-locations"
BAND_CELLS = 65_536  # cells embedded and written per band of rows


def location_embeddings(model: Any, lonlat: np.ndarray, batch_size: int = 4096,
                        device: str = DEVICE) -> np.ndarray:
    """(N, D) float32 model.embed_location of (N, 2) lon, lat degrees (EPSG:4326)."""
    import torch

    if getattr(model, "location_encoder", None) is None:
        raise EngineError("this model has no location encoder",
                          "use a model trained with a location objective (e.g. models/csp_*)")
    lonlat = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    dev = resolve_device(device)
    model.eval().to(dev)
    out = np.empty((len(lonlat), int(model.embedding_dim)), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(lonlat), batch_size):
            x = torch.from_numpy(lonlat[i:i + batch_size]).to(dev)
            out[i:i + batch_size] = model.embed_location(x).float().cpu().numpy()
    return out


def location_grid(bounds: Any, step_m: float, crs: CRSLike) -> tuple[Any, Any, int, int]:
    """(grid CRS (pyproj), transform, width, height) of step_m cells covering `bounds`."""
    from rasterio.transform import from_origin
    from rasterio.warp import transform_bounds

    if bounds is None or len(bounds) != 4 or step_m is None:
        raise EngineError("a location grid needs bounds (xmin ymin xmax ymax) and a step",
                          "give --bounds xmin ymin xmax ymax --crs EPSG:XXXX --step 50")
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    if not (math.isfinite(step_m) and step_m > 0):
        raise EngineError(f"grid step {step_m} m must be a positive number of metres",
                          "e.g. --step 50")
    if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmin >= xmax or ymin >= ymax:
        raise EngineError(f"bounds {tuple(bounds)} are not a box (need xmin < xmax, ymin < ymax)",
                          "give xmin ymin xmax ymax in the CRS named by --crs")
    src = to_pyproj(crs, "bounds crs")
    corners = np.array([[xmin, ymin], [xmin, ymax], [xmax, ymin], [xmax, ymax]])
    lonlat = transform_xy(corners, src, "EPSG:4326")
    if not np.isfinite(lonlat).all() or np.abs(lonlat[:, 1]).max() > 90:
        raise EngineError(f"bounds {tuple(bounds)} are not valid coordinates in {crs_name(src)}",
                          "check the CRS: lon/lat bounds need --crs EPSG:4326")
    grid_crs = metric_crs_for_lonlat(lonlat, src)
    if not grid_crs.equals(src):
        xmin, ymin, xmax, ymax = transform_bounds(src.to_wkt(), grid_crs.to_wkt(),
                                                  xmin, ymin, xmax, ymax)
    width, height = math.ceil((xmax - xmin) / step_m), math.ceil((ymax - ymin) / step_m)
    if width * height > MAX_CELLS:
        raise EngineError(f"a {width} x {height} grid at {step_m} m is too large",
                          "use a larger --step or smaller bounds")
    return grid_crs, from_origin(xmin, ymax, step_m, step_m), width, height


def _embed_grid(model: Any, out: Path, bounds: Any, step_m: float, crs: CRSLike, dtype: str,
                batch_size: int, device: str, progress: Progress,
                tags: dict[str, str]) -> dict[str, Any]:
    from engine.export.geotiff import EmbeddingFieldWriter

    grid_crs, transform, width, height = location_grid(bounds, step_m, crs)
    dim = int(model.embedding_dim)
    rows_per_band = max(1, BAND_CELLS // width)
    cols = np.arange(width) + 0.5
    with EmbeddingFieldWriter(out, crs=grid_crs.to_wkt(), transform=transform, width=width,
                              height=height, count=dim, dtype=dtype,
                              band_descriptions=[f"emb_{k:03d}" for k in range(dim)],
                              tags=tags) as wr:
        for r0 in range(0, height, rows_per_band):
            n = min(rows_per_band, height - r0)
            cc, rr = np.meshgrid(cols, r0 + np.arange(n) + 0.5)
            x, y = transform @ (cc.ravel(), rr.ravel())
            lonlat = transform_xy(np.column_stack([x, y]), grid_crs, "EPSG:4326")
            emb = location_embeddings(model, lonlat, batch_size, device)
            wr.write(emb.T.reshape(dim, n, width), 0, r0)
            progress(r0 + n, height, "embed-locations")
    return {"output": str(out), "crs": crs_name(grid_crs), "width": width, "height": height,
            "step_m": float(step_m), "transform": list(transform)[:6], "cells": width * height,
            "dimension": dim}


def read_point_layer(path: str | os.PathLike[str], layer: str | None = None) -> Any:
    """A point layer as a GeoDataFrame (the first point layer when `layer` is None)."""
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise EngineError(f"point layer {path} does not exist", "check the path")
    try:
        if layer is None:
            found = [(str(n), str(g)) for n, g in pyogrio.list_layers(path)]
            layer = next((n for n, g in found if "Point" in g), found[0][0] if found else None)
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several DataSource/field error types
        raise EngineError(f"point layer {path} cannot be read ({exc})",
                          "give a GeoPackage, GeoJSON or Shapefile of points") from None
    if "geometry" not in getattr(frame, "columns", ()):  # a CSV or a table: no geometry column
        raise EngineError(f"{path} has no point geometries (a table, e.g. a CSV)",
                          "turn it into a point layer first: `python -m engine import-photos "
                          "--input TABLE.csv --out points.gpkg` (lon/lat or x/y columns), or "
                          "QGIS's 'Create points layer from table'")
    kinds = set(frame.geometry.dropna().geom_type)
    if frame.crs is None or not kinds or not kinds <= {"Point"}:
        raise EngineError(f"{path} ({layer}) is not a point layer with a CRS "
                          f"(geometries {sorted(kinds)}, crs {frame.crs})",
                          "give single points with a CRS (QGIS: Layer Properties > Source)")
    if frame.geometry.isna().any() or frame.geometry.is_empty.any():
        row = int(np.flatnonzero((frame.geometry.isna() | frame.geometry.is_empty).to_numpy())[0])
        raise EngineError(f"{path} ({layer}): feature {row} has no geometry",
                          "delete it or give it a location")
    return frame


def embed_locations(model: Any, out: str | os.PathLike[str], *, bounds: Any = None,
                    step_m: float | None = None, crs: CRSLike = "EPSG:4326",
                    points: Any = None, layer: str | None = None, dtype: str = FIELD_DTYPE,
                    batch_size: int = 4096, progress: Progress = no_progress,
                    device: str = DEVICE, model_name: str = "", model_id: str = "",
                    preview: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Location embeddings over a grid (`bounds` in `crs`, `step_m`) -> OUT.tif (+ _pca.tif),
    or at `points` (a point layer path or GeoDataFrame) -> OUT.gpkg layer "embeddings".

    Outputs are committed together; an "embeddings" layer of OUT.gpkg that another command
    wrote is replaced only with `overwrite`, and then its stale OUT.faiss is removed with it.
    """
    from engine.export.atomic import atomic_outputs
    from engine.export.preview import pca_preview

    out = Path(out)
    if getattr(model, "location_encoder", None) is None:
        raise EngineError("this model has no location encoder",
                          "use a model trained with a location objective (e.g. models/csp_*)")
    if (points is None) == (bounds is None):
        raise EngineError("give either a point layer or grid bounds (not both, not neither)",
                          "--points LAYER, or --bounds xmin ymin xmax ymax --step METRES")
    if points is None:
        if out.suffix.lower() not in (".tif", ".tiff"):
            raise EngineError(f"a location grid is written as GeoTIFF, not {out.name}",
                              "name the output OUT.tif")
        pca = out.with_name(out.stem + "_pca.tif")
        with atomic_outputs(out, pca) as outs:
            res = _embed_grid(model, outs.path(out), bounds, step_m, crs, dtype, batch_size,
                              device, progress, field_tags(model_name, int(model.embedding_dim),
                                                           "location", model_id))
            res["output"] = str(out)
            if preview:
                pca_preview(outs.path(out), outs.path(pca))
                res["preview"] = str(pca)
        return {**res, "model": model_name, "encoder": "location"}
    from engine.data.coords import check_coordinates
    from engine.embed.index import index_path
    from engine.embed.points import gpkg_frame
    from engine.export.embeddings_gpkg import write_embeddings_gpkg
    from engine.export.guard import COMMAND_KEY, check_layer

    if out.suffix.lower() != ".gpkg":
        raise EngineError(f"point location embeddings are written as GeoPackage, not {out.name}",
                          "name the output OUT.gpkg")
    frame = points if hasattr(points, "geometry") else read_point_layer(points, layer)
    xy = np.column_stack([frame.geometry.x.to_numpy(float), frame.geometry.y.to_numpy(float)])
    check_coordinates(xy, frame.crs, f"point layer {points if layer is None else layer}")
    lonlat = transform_xy(xy, frame.crs, "EPSG:4326")
    progress(0, 1, "embed-locations")
    emb = location_embeddings(model, lonlat, batch_size, device)
    frame = gpkg_frame(frame.reset_index(drop=True))
    # the layer replaces any "embeddings" layer: a .faiss beside it indexed the old vectors
    with atomic_outputs(out, remove=[index_path(out)], hold_lock=True) as outs:
        check_layer(out, "embeddings", COMMAND, overwrite)
        write_embeddings_gpkg(frame, emb, out, layer="embeddings", model=model_name,
                              extra={"encoder": "location", "input": "lon,lat EPSG:4326"},
                              metadata={COMMAND_KEY: COMMAND}, into=outs.path(out),
                              model_id=model_id)
    progress(1, 1, "embed-locations")
    return {"output": str(out), "layer": "embeddings", "points": len(frame),
            "crs": crs_name(frame.crs), "dimension": int(emb.shape[1]), "model": model_name,
            "encoder": "location"}
