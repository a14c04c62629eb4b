"""The engine's files as notebook objects: embedding fields and maps as xarray.DataArray
(rioxarray-style x/y pixel-centre coordinates, a `spatial_ref` coordinate holding the CRS
and GeoTransform, and `crs`/`transform` attrs), point embeddings as a GeoDataFrame with an
`embedding` column (one float32 vector per row)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError

MAX_BYTES = 2 << 30  # a larger field is read through `bbox`, not whole


def read_field(path: str | os.PathLike[str], bbox: Sequence[float] | None = None) -> Any:
    """A GeoTIFF written by the engine (embedding field, location grid, map) as an
    xarray.DataArray (band, y, x) float32 in real units, NaN where invalid.

    `bbox` (xmin, ymin, xmax, ymax, in the file's CRS) reads only that part.
    """
    import rasterio.windows
    import xarray as xr

    from engine.export.fieldio import open_field, read_field_window

    path = Path(path)
    with open_field(path) as ds:
        window = rasterio.windows.Window(0, 0, ds.width, ds.height)
        if bbox is not None:
            window = rasterio.windows.from_bounds(*bbox, transform=ds.transform).round_offsets(
            ).round_lengths().intersection(window)
        if window.width * window.height * ds.count * 4 > MAX_BYTES:
            raise EngineError(f"{path.name} is {ds.count} bands x {ds.height} x {ds.width} "
                              "pixels: too large to read whole",
                              "pass bbox=(xmin, ymin, xmax, ymax) to read a part")
        data, valid = read_field_window(ds, window)
        transform = ds.window_transform(window)
        crs, names = ds.crs, list(ds.descriptions)
    data[:, ~valid] = np.nan
    _, h, w = data.shape
    xs = transform.c + transform.a * (np.arange(w) + 0.5)
    ys = transform.f + transform.e * (np.arange(h) + 0.5)
    gdal_transform = " ".join(str(v) for v in transform.to_gdal())
    spatial_ref = xr.DataArray(0, attrs={"crs_wkt": crs.to_wkt(), "spatial_ref": crs.to_wkt(),
                                         "GeoTransform": gdal_transform})
    attrs: dict[str, Any] = {"crs": crs.to_string(), "transform": tuple(transform)[:6],
                             "path": str(path), "long_name": tuple(n or "" for n in names)}
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():  # model, chip, stride, ... recorded by embed-raster
        attrs["metadata"] = json.loads(sidecar.read_text(encoding="utf-8"))
    return xr.DataArray(data, dims=("band", "y", "x"),
                        coords={"band": np.arange(1, data.shape[0] + 1), "y": ys, "x": xs,
                                "spatial_ref": spatial_ref}, attrs=attrs, name=path.stem)


def read_points(gpkg: str | os.PathLike[str]) -> Any:
    """A point-embedding GeoPackage (embed-points, embed-locations --points) as a
    GeoDataFrame with the layer's fields and an `embedding` column of float32 vectors."""
    from engine.embed.points import read_point_embeddings

    frame, emb = read_point_embeddings(gpkg)
    frame = frame.copy()
    frame["embedding"] = list(np.asarray(emb, dtype=np.float32))
    frame.attrs["path"] = str(gpkg)
    return frame


def read_map_points(gpkg: str | os.PathLike[str], layer: str) -> Any:
    """One layer of a map GeoPackage (grid cells, polygons or points) as a GeoDataFrame."""
    import geopandas as gpd

    frame = gpd.read_file(gpkg, layer=layer)
    frame.attrs["path"] = str(gpkg)
    return frame
