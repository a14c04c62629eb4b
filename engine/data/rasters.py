"""Overhead rasters read in windows, never whole, with their CRS, transform and valid mask.

`open_raster(path, target_crs)` reads any GDAL raster with a CRS; when `target_crs` differs
from the file's, reads go through a WarpedVRT so every layer of a job shares one CRS (see
engine.data.crs for the rule). Windows may run past the raster's edge: outside pixels come
back invalid (valid=False, data 0), as do nodata / masked / alpha-transparent / NaN pixels.

Grids are served north-up (row 0 the north edge): a south-up file (positive y pixel size)
is read with its rows flipped and a north-up transform, so chips, fields and windows made
from it match those of the same scene stored north-up. A rotated, sheared or east-to-west
grid read in its own CRS is refused (north_up_flip).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import rasterio
from affine import Affine
from rasterio.coords import BoundingBox
from rasterio.enums import ColorInterp, MaskFlags, Resampling
from rasterio.transform import array_bounds
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from engine.data.crs import (
    CRSLike,
    metric_crs_for_lonlat,
    same_crs,
    to_pyproj,
    transform_xy,
)
from engine.data.radiometry import EXACT_INTEGERS
from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RasterWindow:
    """A chip: data float32 (C,H,W) (0 where invalid), valid bool (H,W), crs, transform."""

    data: np.ndarray
    valid: np.ndarray
    crs: rasterio.crs.CRS
    transform: Affine

    @property
    def bounds(self) -> BoundingBox:
        """(left, bottom, right, top) in `crs`."""
        h, w = self.valid.shape
        west, south, east, north = array_bounds(h, w, self.transform)
        return BoundingBox(west, south, east, north)


class OverheadRaster:
    """An open overhead raster (optionally warped to `target_crs`); use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], target_crs: CRSLike | None = None,
                 resampling: str = "bilinear") -> None:
        self.path = Path(path).expanduser()
        self.resampling = _resampling(resampling)
        if not self.path.exists():
            raise EngineError(f"overhead raster {self.path} does not exist",
                              "check the path to the GeoTIFF")
        try:
            self._src = rasterio.open(self.path)
        except rasterio.errors.RasterioIOError as exc:
            raise EngineError(f"{self.path} cannot be opened as a raster ({exc})",
                              "give a GeoTIFF or another GDAL raster; open it in QGIS to "
                              "check it") from None
        if self._src.crs is None:
            self._src.close()
            raise EngineError(
                f"overhead raster {self.path} has no CRS",
                "assign one: gdal_edit.py -a_srs EPSG:XXXX file.tif, or in QGIS with "
                "Raster > Projections > Assign Projection",
            )
        self._ds = self._src
        self._mask_from_values: dict[tuple[int, ...], bool] = {}
        self._flip = False  # a south-up file: its rows are read bottom (north) first
        if target_crs is not None and not same_crs(self._src.crs, target_crs):
            self._ds = self._warped(to_pyproj(target_crs, "target_crs"))  # GDAL warps north-up
        else:
            try:
                self._flip = north_up_flip(self.path, self._src.transform)
            except EngineError:
                self._src.close()
                raise
        interp = self._ds.colorinterp
        self.band_indexes = [i + 1 for i, ci in enumerate(interp) if ci != ColorInterp.alpha]
        if not self.band_indexes:
            self.close()
            raise EngineError(f"overhead raster {self.path} has no data bands (only alpha)",
                              "give a raster with image bands")

    def _warped(self, target: pyproj.CRS) -> WarpedVRT:
        src = self._src
        try:
            if src.nodata is not None:
                return WarpedVRT(src, crs=target.to_wkt(), resampling=self.resampling,
                                 src_nodata=src.nodata, nodata=src.nodata)
            has_alpha = ColorInterp.alpha in src.colorinterp
            return WarpedVRT(src, crs=target.to_wkt(), resampling=self.resampling,
                             add_alpha=not has_alpha)
        except (rasterio.errors.RasterioError, ValueError) as exc:
            self._src.close()
            raise EngineError(f"{self.path} cannot be reprojected to {target.name} ({exc})",
                              "choose a target CRS that covers the raster's area") from None

    # -- context manager ------------------------------------------------------------
    def __enter__(self) -> OverheadRaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the warped view (if any) and the file."""
        if self._ds is not self._src:
            self._ds.close()
        self._src.close()

    # -- grid -----------------------------------------------------------------------
    @property
    def crs(self) -> rasterio.crs.CRS:
        return self._ds.crs

    @property
    def transform(self) -> Affine:
        """The north-up grid's affine (a south-up file's own, with its rows flipped)."""
        t = self._ds.transform
        if self._flip:
            return Affine(t.a, 0.0, t.c, 0.0, -t.e, t.f + t.e * self._ds.height)
        return t

    @property
    def width(self) -> int:
        return self._ds.width

    @property
    def height(self) -> int:
        return self._ds.height

    @property
    def count(self) -> int:
        """Number of data bands (alpha bands are used as masks, not counted)."""
        return len(self.band_indexes)

    @property
    def res(self) -> tuple[float, float]:
        return self._ds.res

    @property
    def nodata(self) -> float | None:
        return self._ds.nodata

    @property
    def bounds(self) -> BoundingBox:
        """(left, bottom, right, top) of the north-up grid (GDAL's of a south-up file has
        bottom > top)."""
        return BoundingBox(*array_bounds(self.height, self.width, self.transform))

    @property
    def is_geographic(self) -> bool:
        """True when the grid is in degrees (lon/lat): reproject before measuring metres."""
        return bool(to_pyproj(self.crs).is_geographic)

    # -- reads ----------------------------------------------------------------------
    def _valid(self, arr: np.ndarray, win: Window) -> np.ndarray:
        """(h, w) bool: pixels valid in every band of `arr` (the read of `win`: float32, or
        raw integers exact in float32).

        GDAL's masks, except where they say no more than the values do: bands with no mask
        (all valid), or whose mask is their nodata value in an integer type of at most 16
        bits (exact in float32), are judged from `arr` itself. Reading the masks as well cost
        twice the values' read (a deflate uint8 window, nodata 0: bench/embed_raster.py)."""
        bands = tuple(self.band_indexes)  # callers may choose the bands after opening
        if bands not in self._mask_from_values:
            self._mask_from_values[bands] = mask_from_values(self._ds, list(bands))
        if not self._mask_from_values[bands]:
            masks = self._ds.read_masks(self.band_indexes, window=win)
            ok = masks[0] > 0
            for m in masks[1:]:
                ok &= m > 0
            return ok
        ok = np.ones(arr.shape[1:], dtype=bool)
        for band, values in zip(self.band_indexes, arr, strict=True):
            nodata = self._ds.nodatavals[band - 1]
            if nodata is not None:
                ok &= values != np.float32(nodata)
        return ok

    def raw_dtype(self) -> np.dtype | None:
        """The bands' common integer type when every value of it is exact in float32
        (EXACT_INTEGERS: read_window(raw=True) then keeps it), else None."""
        types = {self._ds.dtypes[b - 1] for b in self.band_indexes}
        if len(types) != 1:
            return None
        (kind,) = types
        return np.dtype(kind) if kind in EXACT_INTEGERS else None

    def read_window(self, col_off: int, row_off: int, width: int, height: int,
                    raw: bool = False) -> RasterWindow:
        """Pixels [row_off:row_off+height, col_off:col_off+width] of the grid (boundless),
        float32; `raw`: in the bands' own integer type where raw_dtype() gives one (the same
        numbers: a quarter of the memory for 8-bit bands, and no conversion pass)."""
        col_off, row_off, width, height = (int(v) for v in (col_off, row_off, width, height))
        dtype = (self.raw_dtype() if raw else None) or np.dtype(np.float32)
        if width <= 0 or height <= 0:
            raise EngineError(f"window size must be positive, got {width}x{height} px",
                              "ask for at least a 1x1 pixel window")
        c0, r0 = max(col_off, 0), max(row_off, 0)
        c1, r1 = min(col_off + width, self.width), min(row_off + height, self.height)
        inside = (c0, r0, c1, r1) == (col_off, row_off, col_off + width, row_off + height)
        if not inside:  # boundless: outside the raster is invalid and 0
            data = np.zeros((self.count, height, width), dtype=dtype)
            valid = np.zeros((height, width), dtype=bool)
        if c1 > c0 and r1 > r0:
            # the file's window: the same rows counted from the file's first (south) row
            win = Window(c0, self.height - r1 if self._flip else r0, c1 - c0, r1 - r0)
            arr = read_bands(self._ds, self.band_indexes, window=win, out_dtype=dtype)
            ok = self._valid(arr, win)
            if self._flip:
                arr, ok = np.ascontiguousarray(arr[:, ::-1]), np.ascontiguousarray(ok[::-1])
            if not all(np.issubdtype(self._ds.dtypes[b - 1], np.integer)
                       for b in self.band_indexes):  # integers are always finite
                ok &= np.isfinite(arr).all(axis=0)
            np.copyto(arr, arr.dtype.type(0), where=~ok[None])  # in place: no second copy
            if inside:
                data, valid = arr, ok
            else:
                inner = (slice(r0 - row_off, r1 - row_off), slice(c0 - col_off, c1 - col_off))
                data[(slice(None), *inner)] = arr
                valid[inner] = ok
        transform = self.transform * Affine.translation(col_off, row_off)
        return RasterWindow(data=data, valid=valid, crs=self.crs, transform=transform)

    def read_centered(self, x: float, y: float, size_px: int,
                      res: float | None = None) -> RasterWindow:
        """A size_px x size_px chip centred on (x, y) in the raster's CRS; outside is invalid.

        Without `res`, or with `res` equal to the raster's pixel size on a north-up grid, the
        chip is cut from the raster's own grid (no resampling; centred to within half a
        pixel). Another `res` (CRS units per pixel, metres for projected CRSs) resamples.
        """
        if not (math.isfinite(x) and math.isfinite(y)):
            raise EngineError(f"chip centre x={x}, y={y} is not a finite coordinate",
                              "check the point's coordinates")
        size_px = int(size_px)
        t = self.transform
        native = t.b == 0 and t.d == 0 and abs(t.a) == abs(t.e)
        if res is None or (native and math.isclose(float(res), abs(t.a), rel_tol=1e-9)):
            col, row = ~self.transform * (x, y)
            return self.read_window(math.floor(col - size_px / 2 + 0.5),
                                    math.floor(row - size_px / 2 + 0.5), size_px, size_px)
        from engine.data.chips import resampled_chip

        return resampled_chip(self, x, y, size_px, float(res))

    def window_offsets(self, size: int, stride: int | None = None) -> list[tuple[int, int]]:
        """(row_off, col_off) of a regular grid of size x size windows covering the raster.

        Offsets step by `stride` (default `size`); the last row/column of windows may run
        past the edge (padded invalid), so window k always starts at k * stride.
        """
        stride = int(stride or size)
        if size <= 0 or stride <= 0:
            raise EngineError(f"window size and stride must be positive, got {size}, {stride}",
                              "use e.g. size=256, stride=256")
        return [(r, c) for r in _steps(self.height, size, stride)
                for c in _steps(self.width, size, stride)]

    def iter_windows(self, size: int,
                     stride: int | None = None) -> Iterator[tuple[int, int, RasterWindow]]:
        """Yield (row_off, col_off, window) over `window_offsets(size, stride)`, row by row."""
        for row, col in self.window_offsets(size, stride):
            yield row, col, self.read_window(col, row, size, size)


def north_up_flip(path: Path, transform: Affine) -> bool:
    """Whether a grid read in its own CRS must be flipped to north-up: True for south-up
    (positive y pixel size), False for north-up; EngineError naming the file for a rotated,
    sheared or east-to-west grid, whose pixels no flip brings north-up."""
    if transform.b == 0 and transform.d == 0 and transform.a > 0 and transform.e != 0:
        return transform.e > 0
    raise EngineError(
        f"overhead raster {path} has a rotated, sheared or mirrored grid (geotransform "
        f"{tuple(round(v, 6) for v in transform[:6])}): chips are cut north-up",
        f"warp it to a north-up grid first: gdalwarp {path} {path.stem}_northup.tif "
        "(or Raster > Projections > Warp in QGIS)")


def mask_from_values(ds: Any, bands: list[int]) -> bool:
    """Whether `bands`' GDAL masks follow from their values read as float32: no mask at all, or
    a nodata mask on an integer type exact in float32 with a nodata value of that type."""
    for b in bands:
        flags = set(ds.mask_flag_enums[b - 1])
        if flags == {MaskFlags.all_valid}:
            continue
        nodata = ds.nodatavals[b - 1]
        if flags != {MaskFlags.nodata} or ds.dtypes[b - 1] not in EXACT_INTEGERS \
                or nodata is None or not float(nodata).is_integer():
            return False
        info = np.iinfo(ds.dtypes[b - 1])
        if not info.min <= nodata <= info.max:
            return False
    return True


def read_bands(ds: Any, bands: list[int], out_dtype: Any = "float32",
               **kw: Any) -> np.ndarray:
    """(len(bands), h, w) of `bands` in `out_dtype` (float32); band by band when their data
    types differ (a VRT stacking float and integer files), which one rasterio read refuses."""
    if len({ds.dtypes[b - 1] for b in bands}) <= 1:
        return ds.read(bands, out_dtype=out_dtype, **kw)
    return np.stack([ds.read(b, out_dtype=out_dtype, **kw) for b in bands])


def open_raster(path: str | os.PathLike[str], target_crs: CRSLike | None = None,
                resampling: str = "bilinear") -> OverheadRaster:
    """Open an overhead raster for windowed reads, warped to `target_crs` when it differs."""
    return OverheadRaster(path, target_crs=target_crs, resampling=resampling)


def metric_target_crs(raster: OverheadRaster) -> pyproj.CRS:
    """A CRS in true metres for the raster (pyproj): its own when projected in metres with
    < 1 % scale error at its centre, else the local UTM zone (see crs.metric_crs_for_lonlat).
    """
    b = raster.bounds
    centre = transform_xy(np.array([[(b.left + b.right) / 2, (b.bottom + b.top) / 2]]),
                          raster.crs, "EPSG:4326")
    return metric_crs_for_lonlat(centre, raster.crs)


def _steps(extent: int, size: int, stride: int) -> list[int]:
    offsets = [0]
    while offsets[-1] + size < extent:
        offsets.append(offsets[-1] + stride)
    return offsets


def _resampling(name: str) -> Resampling:
    try:
        return Resampling[str(name)]
    except KeyError:
        allowed = ", ".join(r.name for r in Resampling if r.value < 100)
        raise EngineError(f"unknown resampling {name!r}",
                          f"use one of: {allowed}") from None
