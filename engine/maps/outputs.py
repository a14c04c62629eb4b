"""A map GeoTIFF -> styled GeoPackage (grid cells or polygons) + PNG quick-look.

Grid cells are the map's pixels as squares (read decimated when there are more than
MAX_CELLS), carrying `prediction` and `uncertainty` (or `class` + `confidence`); polygons
(e.g. tracts) carry the mean of each band over the pixels whose centres fall inside.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

MAX_CELLS = 40_000


def read_map(path: str | os.PathLike[str], max_cells: int = MAX_CELLS) -> dict:
    """The map's bands (C, H, W) float64 (NaN = nodata), names, CRS and transform.

    A map of more than `max_cells` pixels is read decimated (GDAL average of the valid
    pixels, so memory stays bounded) onto a coarser grid covering the same extent.
    """
    import math

    from affine import Affine
    from rasterio.enums import Resampling

    from engine.export.fieldio import open_field

    with open_field(path) as ds:
        f = max(1.0, math.sqrt(ds.width * ds.height / max_cells))
        h, w = max(1, math.ceil(ds.height / f)), max(1, math.ceil(ds.width / f))
        arr = ds.read(out_shape=(ds.count, h, w), resampling=Resampling.average, masked=True)
        scales = np.asarray(ds.scales, dtype=np.float64)[:, None, None]
        offsets = np.asarray(ds.offsets, dtype=np.float64)[:, None, None]
        data = np.ma.filled(arr.astype(np.float64), np.nan) * scales + offsets
        names = [d or f"band{i + 1}" for i, d in enumerate(ds.descriptions)]
        transform = ds.transform * Affine.scale(ds.width / w, ds.height / h)
        crs = ds.crs
    data[:, ~np.isfinite(data).all(axis=0)] = np.nan
    return {"data": data, "names": names, "crs": crs, "transform": transform,
            "factor": ds.width / w}


def grid_cells(path: str | os.PathLike[str], max_cells: int = MAX_CELLS):
    """GeoDataFrame of square cells (one per valid map pixel) with one column per band."""
    import geopandas as gpd
    import shapely

    m = read_map(path, max_cells)
    data, t = m["data"], m["transform"]
    _, h, w = data.shape
    rows, cols = np.nonzero(np.isfinite(data).all(axis=0))
    x0 = t.c + cols * t.a
    y0 = t.f + rows * t.e
    geoms = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
    cols_out = {"row": rows.astype(np.int32), "col": cols.astype(np.int32)}
    for b, name in enumerate(m["names"]):
        cols_out[name] = data[b, rows, cols]
    return gpd.GeoDataFrame(cols_out, geometry=geoms, crs=m["crs"])


def polygon_means(path: str | os.PathLike[str], polygons, id_field: str | None = None,
                  progress: Progress = no_progress):
    """The polygons (in the map's CRS) with the mean of every map band inside each, and the
    number of map pixels averaged (`n_pixels`)."""
    from engine.heads.aggregate import aggregate_field_file
    from engine.maps.field import field_info

    info = field_info(path)
    names = [d or f"band{i + 1}" for i, d in enumerate(info["descriptions"])]
    agg = aggregate_field_file(path, polygons, id_field=id_field, progress=progress)
    out = polygons.to_crs(info["crs"]).copy()
    for b, name in enumerate(names):
        out[name] = agg.embeddings[:, b] if agg.embeddings.shape[1] else np.nan
    out["n_pixels"] = agg.counts
    return out


def write_map_layer(gdf, gpkg: str | os.PathLike[str], layer: str, attribute: str,
                    metadata: dict | None = None, categorical: bool = False,
                    ramp: str = "viridis") -> Path:
    """Write `gdf` as a layer styled graduated (or categorised) on `attribute`."""
    from engine.export.gpkg import geometry_kind, write_gpkg
    from engine.export.styles import categorized_style, graduated_style

    if len(gdf) == 0:
        raise EngineError(f"the map layer {layer!r} has no feature with a value",
                          "check that the map overlaps the polygons / has valid pixels")
    values = np.asarray(gdf[attribute])
    geom = geometry_kind(gdf)
    style = (categorized_style(values, attribute, geometry=geom) if categorical
             else graduated_style(values, attribute, ramp=ramp, geometry=geom))
    return write_gpkg(gdf, gpkg, layer, style=style, metadata=metadata)


def map_outputs(tif: str | os.PathLike[str], out_dir: str | os.PathLike[str], name: str,
                title: str, polygons=None, id_field: str | None = None,
                metadata: dict | None = None, categorical: bool = False,
                progress: Progress = no_progress, quicklook: bool = True) -> dict[str, str]:
    """Grid-cell GPKG (+ polygon layer) and PNG quick-looks (unless `quicklook` is False)
    for a map GeoTIFF; returns paths."""
    from engine.export.quicklook import quicklook_raster, quicklook_vector

    out_dir = Path(out_dir)
    cells = grid_cells(tif)
    attribute = cells.columns[2]
    gpkg = out_dir / f"{name}.gpkg"
    write_map_layer(cells, gpkg, f"{name}_cells", attribute, metadata, categorical)
    outputs = {"geotiff": str(tif), "gpkg": str(gpkg)}
    if quicklook:
        png = out_dir / f"{name}.png"
        quicklook_raster(tif, png, band=1, title=title, label=attribute,
                         cmap="tab10" if categorical else "viridis")
        outputs["png"] = str(png)
    if polygons is not None:
        polys = polygon_means(tif, polygons, id_field, progress)
        polys = polys[np.isfinite(np.asarray(polys[attribute], dtype=np.float64))]
        write_map_layer(polys, gpkg, f"{name}_polygons", attribute, metadata, categorical)
        outputs["polygons_layer"] = f"{name}_polygons"
        if quicklook:
            png_p = out_dir / f"{name}_polygons.png"
            quicklook_vector(polys, attribute, png_p, title=f"{title} (per polygon)")
            outputs["polygons_png"] = str(png_p)
    outputs["cells_layer"] = f"{name}_cells"
    return outputs
