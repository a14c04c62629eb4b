"""Write the sample city's files: deterministic bytes, atomic renames, GeoPackage 1.2."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
from rasterio.transform import Affine

from engine.export.atomic import atomic_path

FIXED_DATE = "2024-01-01T00:00:00Z"  # GeoPackage timestamps: fixed, so same seed -> same bytes


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_geotiff(path: Path, array: np.ndarray, transform: Affine, crs: str,
                  descriptions: tuple[str, ...] = (), photometric: str | None = None) -> None:
    """(C, H, W) array -> tiled (256), deflate-compressed GeoTIFF."""
    count, height, width = array.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": count,
               "dtype": array.dtype.name, "crs": crs, "transform": transform, "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    if photometric:
        profile["photometric"] = photometric
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array)
            for i, text in enumerate(descriptions, start=1):
                dst.set_band_description(i, text)


def write_gpkg(path: Path, frame: gpd.GeoDataFrame, layer: str) -> None:
    """A GeoPackage 1.2 layer (QGIS 3.22 opens it) with fixed timestamps."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    try:
        with atomic_path(path) as tmp:
            pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG",
                                    dataset_options={"VERSION": "1.2"})
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def write_manifest(path: Path, manifest: dict) -> None:
    write_bytes(path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
