"""A map GeoTIFF -> styled GeoPackage (grid cells or polygons) + PNG quick-look.

Grid cells are the map's pixels as squares (read decimated when there are more than
MAX_CELLS), carrying `prediction` and `uncertainty` (or `class` + `confidence`); polygons
(e.g. tracts) carry the mean of each band over the pixels whose centres fall inside. A class
map is never averaged: decimated cells take the most common class of their pixels, polygons
their most common class and its share (`class_share`).
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


def read_map(path: str | os.PathLike[str], max_cells: int = MAX_CELLS,
             categorical: bool = False) -> dict:
    """The map's bands (C, H, W) float64 (NaN = nodata), names, CRS and transform.

    A map of more than `max_cells` pixels is read decimated (GDAL average of the valid
    pixels, so memory stays bounded) onto a coarser grid covering the same extent; a class
    map's first band (class_index) by the most common class instead (an average of classes
    0 and 2 is not class 1).
    """
    import math

    from affine import Affine
    from rasterio.enums import Resampling

    from engine.export.fieldio import open_field

    with open_field(path) as ds:
        f = max(1.0, math.sqrt(ds.width * ds.height / max_cells))
        h, w = max(1, math.ceil(ds.height / f)), max(1, math.ceil(ds.width / f))
        arr = ds.read(out_shape=(ds.count, h, w), resampling=Resampling.average, masked=True)
        if categorical and f > 1:
            arr[0] = ds.read(1, out_shape=(h, w), resampling=Resampling.mode, masked=True)
        scales = np.asarray(ds.scales, dtype=np.float64)[:, None, None]
        offsets = np.asarray(ds.offsets, dtype=np.float64)[:, None, None]
        data = np.ma.filled(arr.astype(np.float64), np.nan) * scales + offsets
        names = [d or f"band{i + 1}" for i, d in enumerate(ds.descriptions)]
        transform = ds.transform * Affine.scale(ds.width / w, ds.height / h)
        crs = ds.crs
    data[:, ~np.isfinite(data).all(axis=0)] = np.nan
    return {"data": data, "names": names, "crs": crs, "transform": transform,
            "factor": ds.width / w}


def grid_cells(path: str | os.PathLike[str], max_cells: int = MAX_CELLS,
               classes: list[str] | None = None):
    """GeoDataFrame of square cells (one per valid map pixel) with one column per band; with
    `classes` (a class map's names by class_index) also the `class` name."""
    import geopandas as gpd
    import shapely

    m = read_map(path, max_cells, categorical=classes is not None)
    data, t = m["data"], m["transform"]
    _, h, w = data.shape
    rows, cols = np.nonzero(np.isfinite(data).all(axis=0))
    x0 = t.c + cols * t.a
    y0 = t.f + rows * t.e
    geoms = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
    cols_out = {"row": rows.astype(np.int32), "col": cols.astype(np.int32)}
    for b, name in enumerate(m["names"]):
        cols_out[name] = data[b, rows, cols]
    if classes is not None:
        index = np.rint(cols_out[m["names"][0]]).astype(np.int64)
        cols_out[m["names"][0]] = index
        cols_out["class"] = np.asarray(classes, dtype=object)[index]
    return gpd.GeoDataFrame(cols_out, geometry=geoms, crs=m["crs"])


def polygon_classes(path: str | os.PathLike[str], polygons, classes: list[str]):
    """The polygons (in the map's CRS) with the most common class of a class map's pixels
    inside each (`class_index`, `class`), its share of them (`class_share`) and their number
    (`n_pixels`); polygons holding no map pixel are left out."""
    import rasterio.mask

    from engine.export.fieldio import open_field

    with open_field(path) as ds:
        out = polygons.to_crs(ds.crs).copy()
        index, share, count = [], [], []
        for geom in out.geometry.values:
            values = np.zeros(0)
            if geom is not None and not geom.is_empty:
                try:
                    arr, _ = rasterio.mask.mask(ds, [geom], crop=True, indexes=1,
                                                filled=False)
                    values = arr.compressed()
                except ValueError:  # the polygon lies off the map
                    pass
            values = values[np.isfinite(values)].astype(np.int64)
            found = np.bincount(values) if len(values) else np.zeros(1)
            index.append(int(np.argmax(found)) if len(values) else -1)
            share.append(float(found.max() / len(values)) if len(values) else np.nan)
            count.append(len(values))
    out["class_index"], out["class_share"], out["n_pixels"] = index, share, count
    out = out[out["n_pixels"] > 0].copy()
    out["class"] = np.asarray(classes, dtype=object)[out["class_index"].to_numpy()]
    return out


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
                metadata: dict | None = None, classes: list[str] | None = None,
                progress: Progress = no_progress, quicklook: bool = True) -> dict[str, str]:
    """Grid-cell GPKG (+ polygon layer) and PNG quick-looks (unless `quicklook` is False)
    for a map GeoTIFF; returns paths. `classes`: a class map's names by class_index (band
    1), which then also gets its paletted QGIS style."""
    from engine.export.quicklook import quicklook_raster, quicklook_vector

    out_dir = Path(out_dir)
    categorical = classes is not None
    if categorical:
        from engine.export.styles import raster_paletted_qml, write_qml

        write_qml(tif, raster_paletted_qml([str(c) for c in classes]))  # opened: classes named
    cells = grid_cells(tif, classes=classes)
    attribute = "class" if categorical else cells.columns[2]
    gpkg = out_dir / f"{name}.gpkg"
    write_map_layer(cells, gpkg, f"{name}_cells", attribute, metadata, categorical)
    outputs = {"geotiff": str(tif), "gpkg": str(gpkg)}
    if quicklook:
        png = out_dir / f"{name}.png"
        quicklook_raster(tif, png, band=1, title=title, label=attribute,
                         cmap="tab10" if categorical else "viridis",
                         classes=[str(c) for c in classes] if categorical else None)
        outputs["png"] = str(png)
    if polygons is not None:
        if categorical:
            polys = polygon_classes(tif, polygons, [str(c) for c in classes])
        else:
            polys = polygon_means(tif, polygons, id_field, progress)
            polys = polys[np.isfinite(np.asarray(polys[attribute], dtype=np.float64))]
        write_map_layer(polys, gpkg, f"{name}_polygons", attribute, metadata, categorical)
        outputs["polygons_layer"] = f"{name}_polygons"
        if quicklook:
            png_p = out_dir / f"{name}_polygons.png"
            quicklook_vector(polys, "class_index" if categorical else attribute, png_p,
                             title=f"{title} (per polygon)")
            outputs["polygons_png"] = str(png_p)
    outputs["cells_layer"] = f"{name}_cells"
    return outputs
