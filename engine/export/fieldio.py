"""Reading embedding-field GeoTIFFs back: band scale/offset applied, nodata as a mask."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError


def open_field(path: str | os.PathLike[str]):
    """Open a GeoTIFF for reading; EngineError for a missing/unreadable file or no CRS."""
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"raster {path} does not exist", "check the path")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as exc:
        raise EngineError(f"raster {path} cannot be read: {exc}",
                          "re-export it as a GeoTIFF") from None
    if ds.crs is None:
        ds.close()
        raise EngineError(f"raster {path} has no CRS", "assign one (Raster > Projections)")
    return ds


def read_field_window(ds, window) -> tuple[np.ndarray, np.ndarray]:
    """(data float32 (C, h, w) in real units, valid bool (h, w)) for one window.

    Real value = stored * scale + offset (GDAL band scale/offset); a pixel is valid when no
    band equals nodata and all are finite.
    """
    if len(set(ds.dtypes)) > 1:  # e.g. a band stack (VRT) of float32 and int16 files
        raw = np.stack([ds.read(i + 1, window=window, out_dtype="float64")
                        for i in range(ds.count)])
    else:
        raw = ds.read(window=window)
    valid = np.ones(raw.shape[1:], dtype=bool)
    for band, nodata in zip(raw, ds.nodatavals, strict=True):  # each band's own nodata
        if nodata is not None and not np.isnan(nodata):  # NaN nodata: the finite test below
            valid &= band != nodata
    data = raw.astype(np.float32, copy=False)
    scales = np.asarray(ds.scales, dtype=np.float32)[:, None, None]
    offsets = np.asarray(ds.offsets, dtype=np.float32)[:, None, None]
    if not (np.all(scales == 1) and np.all(offsets == 0)):
        data = data * scales + offsets
    valid &= np.isfinite(data).all(axis=0)
    return data, valid


IMAGE_DTYPES = frozenset({"uint8", "uint16"})  # an image's, never an embedding field's


def check_embedding_field(ds, path: str | os.PathLike[str]) -> None:
    """EngineError when the open raster `ds` is plainly not an embedding field: another
    GeoContrast output (a PCA preview, a map), or an untagged image (uint8/uint16 bands, as
    an overhead photo; fields are float16, float32 or scaled int8). A user's own untagged
    float stack passes."""
    kind = ds.tags().get("GEOCONTRAST_KIND", "")  # engine.export.geotiff.KIND_TAG
    if kind and kind != "embedding_field":
        raise EngineError(f"raster {path} is a GeoContrast {kind.replace('_', ' ')}, not an "
                          "embedding field",
                          "pass the field itself (the .tif `python -m engine embed-raster` "
                          "writes, without _pca)")
    if not kind and set(ds.dtypes) <= IMAGE_DTYPES:
        raise EngineError(f"raster {path} is an image ({', '.join(sorted(set(ds.dtypes)))} "
                          f"bands), not an embedding field",
                          "embed it first with `python -m engine embed-raster` and pass the "
                          "field it writes")


def require_field(path: str | os.PathLike[str]) -> None:
    """check_embedding_field on the file at `path`, before any work on it."""
    with open_field(path) as ds:
        check_embedding_field(ds, path)
