"""GeoTIFF maps and embedding fields: tiled COG layout with internal overviews, atomic.

Storage: float32; float16 (GeoTIFF NBITS=16 half floats, nodata NaN); int8 quantised per
band with value = stored * scale + offset recorded as GDAL band scale/offset (nodata -128);
uint8 (RGB previews, nodata 0). Large rasters stream window by window through
`EmbeddingFieldWriter` into a float32 scratch file and are finalised at close: float fields
are copied from the scratch into the COG in one compression pass (float16 is rounded as it
is written; a raster small enough to gather in memory goes from memory, never through a
file); int8 and uint8 go through a converted stage file first. Tiles are no larger than the
raster needs (rounded up to TIFF's 16 px; GDAL documents 128 px as the COG driver's least
BLOCKSIZE but writes any multiple of 16, so that check is off for the copy): a 63 x 63 field
of 1,280 bands in 256 px tiles is 16 x padding to compress (finalise 2.0 s; 64 px: 0.14 s).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.atomic import atomic_path, scratch_name
from engine.export.encoding import int8_scale_offset, round_to_half
from engine.export.fieldio import open_field, read_field_window  # noqa: F401 - re-export

log = logging.getLogger(__name__)

DTYPES: tuple[str, ...] = ("float32", "float16", "int8", "uint8")
INT8_NODATA = -128
_WINDOW = 512  # rows/cols per window when re-reading the scratch file
# a raster up to this size (float32, all bands) is gathered in memory and written to the
# scratch file at once: small windows of a band-interleaved 1,280-band scratch file cost
# 0.11 s each in GDAL's read-modify-write of every band's tile (11.3 s of a 79 x 79 field)
# (a 313 x 313 field of 1,280 bands, 478 MiB: 14 s of block writes into the scratch file
# against 0.7 s in memory, bench/embed_raster.py at 20k px, stride 64)
MEMORY_BYTES = 512 * 2**20

# GDAL dataset tag naming what a GeoContrast GeoTIFF is, so QGIS (the plugin) can tell an
# embedding field ("embedding_field") from its preview ("embedding_preview") or an image
KIND_TAG = "GEOCONTRAST_KIND"
MODEL_ID_TAG = "GEOCONTRAST_MODEL_ID"  # engine.models.folder.ModelFolder.identity

# a tile holds every band of its pixels (pixel-interleaved COG): at most this many bytes
# (float32), so a 1,280-band field gets 80 px tiles, not 335 MB ones at 256 px, which GDAL
# buffers several at a time when compressing and any reader loads whole to show three bands
TILE_BYTES = 32 * 2**20
# rasters under this size (px) get no overviews: they draw fast without (a 157 x 157 field of
# 1,280 bands in 80 px tiles spent 0.3 s of its 1.1 s finalise on one it does not need)
OVERVIEW_MIN_PX = 256


def fit_blocksize(blocksize: int, width: int, height: int, count: int = 1) -> int:
    """The tile size for a raster: `blocksize`, or less (a multiple of 16) when the raster is
    smaller or a tile of all `count` bands would pass TILE_BYTES."""
    by_bytes = int((TILE_BYTES / (4 * max(count, 1))) ** 0.5) // 16 * 16
    return min(blocksize, max(16, by_bytes), max(16, -(-max(width, height) // 16) * 16))


class EmbeddingFieldWriter:
    """Write a (count, height, width) raster window by window; `close()` makes the final file.

    Use as a context manager: on an exception nothing is left under the target name.
    """

    def __init__(self, path: str | os.PathLike[str], *, crs, transform, width: int,
                 height: int, count: int, dtype: str = "float32",
                 nodata: float | None = None, band_descriptions: list[str] | None = None,
                 cog: bool = True, blocksize: int = 256, resampling: str = "average",
                 colorinterp: str | None = None, tags: dict[str, str] | None = None,
                 scratch_tile: int | None = None) -> None:
        import rasterio

        if dtype not in DTYPES:
            raise EngineError(f"unknown GeoTIFF dtype {dtype!r}", f"use one of {DTYPES}")
        if crs is None:
            raise EngineError(f"no CRS given for {path}", "pass the CRS of the source grid")
        if blocksize % 16 or blocksize < 16:
            raise EngineError(f"blocksize {blocksize} is not a multiple of 16", "use 256 or 512")
        if band_descriptions is not None and len(band_descriptions) != count:
            raise EngineError(f"{len(band_descriptions)} band descriptions for {count} bands",
                              "give one description per band")
        self.path, self.dtype, self.cog = Path(path), dtype, cog
        self.count, self.width, self.height = int(count), int(width), int(height)
        self.blocksize = fit_blocksize(blocksize, self.width, self.height, self.count)
        self.resampling, self.colorinterp = resampling, colorinterp
        self.band_descriptions = band_descriptions
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}  # GDAL dataset metadata
        self.nodata = nodata if nodata is not None else {
            "int8": INT8_NODATA, "uint8": 0}.get(dtype, float("nan"))
        self.lo = np.full(count, np.inf)
        self.hi = np.full(count, -np.inf)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._scratch = scratch_name(self.path, ".scratch.tif")
        # `scratch_tile`: the caller writes windows of whole tiles of this size (a multiple
        # of 16): each band's tile is then written once, never read back and re-written
        if scratch_tile is not None and (scratch_tile % 16 or scratch_tile < 16):
            raise EngineError(f"scratch tile {scratch_tile} is not a multiple of 16",
                              "use 16, 32, 64 ...")
        bs = scratch_tile or min(self.blocksize, 256)
        self._ds = rasterio.open(
            self._scratch, "w", driver="GTiff", width=width, height=height, count=count,
            dtype="float32", crs=crs, transform=transform, nodata=float("nan"), tiled=True,
            blockxsize=bs, blockysize=bs, BIGTIFF="IF_SAFER", SPARSE_OK="TRUE",
            # band-interleaved: a tile is one band's (256 KiB), not all bands' (1280 bands:
            # 335 MB per tile, which a bounded GDAL cache re-reads on every partial write)
            interleave="band")
        self.crs, self.transform = self._ds.crs, self._ds.transform
        small = 4 * self.count * self.width * self.height <= MEMORY_BYTES
        # one array per band: handed to GDAL band by band and freed as it goes (peak: the
        # raster once, not twice)
        self._mem: list[np.ndarray | None] | None = [
            np.full((self.height, self.width), np.nan, np.float32)
            for _ in range(self.count)] if small else None

    def write(self, data: np.ndarray, col_off: int, row_off: int,
              valid: np.ndarray | None = None) -> None:
        """Write real values (C, h, w) at (col_off, row_off); `valid` False -> nodata."""
        from rasterio.windows import Window

        data = np.asarray(data, dtype=np.float32)
        if data.ndim == 2:
            data = data[None]
        c, h, w = data.shape
        if c != self.count:
            raise EngineError(f"window has {c} bands, the raster {self.path.name} {self.count}",
                              "write every band of a window at once")
        if col_off < 0 or row_off < 0 or col_off + w > self.width or row_off + h > self.height:
            raise EngineError(f"window {w}x{h} at col {col_off}, row {row_off} falls outside "
                              f"the {self.width}x{self.height} raster {self.path.name}",
                              "clip windows to the raster grid")
        if self.dtype == "float16":  # round to nearest half here: GDAL's NBITS=16 truncates
            data = round_to_half(data)
            if np.nanmax(np.abs(data), initial=0.0) > 65504.0:
                raise EngineError(f"values beyond +-65504 cannot be stored as float16 in "
                                  f"{self.path.name}", "write this raster as float32")
        else:
            data = data.copy()
        if valid is not None:
            data[:, ~np.asarray(valid, dtype=bool)] = np.nan
        # value range (lo, hi): of every band for int8's scales, else of band 1 only (the
        # maps' colour ramp), not a pass over all 1,280 bands of an embedding field
        n = self.count if self.dtype == "int8" else 1
        finite = np.isfinite(data[:n])
        if finite.any():
            with np.errstate(invalid="ignore"):
                self.lo[:n] = np.fmin(self.lo[:n],
                                      np.where(finite, data[:n], np.inf).min(axis=(1, 2)))
                self.hi[:n] = np.fmax(self.hi[:n],
                                      np.where(finite, data[:n], -np.inf).max(axis=(1, 2)))
        if self._mem is not None:
            for band, values in zip(self._mem, data, strict=True):
                band[row_off:row_off + h, col_off:col_off + w] = values
        else:
            self._ds.write(data, window=Window(col_off, row_off, w, h))

    @property
    def holds_values(self) -> bool:
        """Whether the values written so far can be read back from memory (float fields
        gathered in memory, before close): read_window then gives the file's values."""
        return self._mem is not None and self.dtype in ("float32", "float16")

    def read_window(self, window) -> tuple[np.ndarray, np.ndarray]:
        """(values float32 (C, h, w), valid (h, w)) of a window, from memory (holds_values),
        as engine.export.fieldio.read_field_window reads them from the final file."""
        if not self.holds_values:
            raise EngineError(f"{self.path.name}'s values are not in memory",
                              "read the finished file (engine.export.fieldio)")
        r, c = int(window.row_off), int(window.col_off)
        h, w = int(window.height), int(window.width)
        data = np.stack([band[r:r + h, c:c + w] for band in self._mem])
        return data, np.isfinite(data).all(axis=0)

    def _close_scratch(self) -> None:
        """Flush the in-memory raster (if any) into the scratch file and close it."""
        if self._mem is not None:
            self._write_bands(self._ds)
        self._ds.close()

    def _write_bands(self, ds) -> None:
        """Move the gathered bands into `ds`, freeing each once written."""
        for b in range(self.count):
            ds.write(self._mem[b], b + 1)
            self._mem[b] = None
        self._mem = None

    @contextlib.contextmanager
    def _memory_dataset(self):
        """The gathered raster as a GDAL in-memory (MEM) dataset, described."""
        import rasterio

        with rasterio.open(f"/vsimem/{self._scratch.name}", "w+", driver="MEM",
                           width=self.width, height=self.height, count=self.count,
                           dtype="float32", crs=self.crs, transform=self.transform,
                           nodata=float("nan")) as ds:
            self._write_bands(ds)
            self._describe(ds)
            yield ds

    def _windows(self):
        from rasterio.windows import Window

        for r in range(0, self.height, _WINDOW):
            for c in range(0, self.width, _WINDOW):
                yield Window(c, r, min(_WINDOW, self.width - c), min(_WINDOW, self.height - r))

    def _direct(self) -> bool:
        """Whether the scratch file already holds the final values (float, NaN nodata)."""
        return self.cog and self.dtype in ("float32", "float16") and \
            isinstance(self.nodata, float) and np.isnan(self.nodata)

    def _describe(self, dst) -> None:
        """Band descriptions, dataset tags and colour interpretation onto `dst`."""
        from rasterio.enums import ColorInterp

        for b, d in enumerate(self.band_descriptions or [], start=1):
            dst.set_band_description(b, d)
        if self.tags:
            dst.update_tags(**self.tags)
        if self.colorinterp == "rgb" and self.count >= 3:
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue] + \
                [ColorInterp.undefined] * (self.count - 3)
        elif self.colorinterp == "gray" and self.count == 1:
            dst.colorinterp = [ColorInterp.gray]

    def _finalise_into(self, out: Path) -> None:
        import rasterio
        from rasterio.enums import Resampling

        opts = {"NBITS": 16} if self.dtype == "float16" else {}
        if self._direct() and self._mem is not None:  # one pass, from memory into the COG
            self._ds.close()
            with self._memory_dataset() as ds:
                self._to_cog(ds, out, opts)
            return
        if self._direct():  # one pass: the scratch straight into the COG
            self._describe(self._ds)
            self._close_scratch()
            self._to_cog(self._scratch, out, opts)
            return
        self._close_scratch()
        stage = out.with_name(out.stem + ".stage.tif") if self.cog else out
        gdal_dtype = "float32" if self.dtype == "float16" else self.dtype
        scales = np.ones(self.count)
        offsets = np.zeros(self.count)
        if self.dtype == "int8":
            for b in range(self.count):
                scales[b], offsets[b] = int8_scale_offset(self.lo[b], self.hi[b])
        try:
            with rasterio.open(self._scratch) as src, rasterio.open(
                    stage, "w", driver="GTiff", width=self.width, height=self.height,
                    count=self.count, dtype=gdal_dtype, crs=src.crs, transform=src.transform,
                    nodata=self.nodata, tiled=True, blockxsize=self.blocksize,
                    blockysize=self.blocksize, compress="deflate", BIGTIFF="IF_SAFER",
                    interleave="band" if self.cog else "pixel", **opts) as dst:
                for win in self._windows():
                    x = src.read(window=win)
                    bad = ~np.isfinite(x)
                    # NaN survives the clip and sits exactly where `bad` puts nodata
                    if self.dtype == "int8":
                        q = np.rint((x - offsets[:, None, None]) / scales[:, None, None])
                        x = np.clip(q, -127, 127, out=q)
                    elif self.dtype == "uint8":
                        x = np.clip(np.rint(x), 0, 255)
                    x[bad] = self.nodata
                    dst.write(x.astype(gdal_dtype), window=win)
                if self.dtype == "int8":
                    dst.scales, dst.offsets = tuple(scales), tuple(offsets)
                self._describe(dst)
                if not self.cog:
                    dst.build_overviews(self._factors(), getattr(Resampling, self.resampling))
            if self.cog:
                self._to_cog(stage, out, opts)
        finally:
            if stage != out:
                with contextlib.suppress(OSError):
                    stage.unlink()

    def _factors(self) -> list[int]:
        return self._cog_factors() or [2]

    def _cog_factors(self) -> list[int]:
        """Overview factors halving the raster while the level keeps at least
        OVERVIEW_MIN_PX / 2 px: none for a raster under OVERVIEW_MIN_PX, whatever its tiles."""
        f, out = 2, []
        while max(self.width, self.height) / f >= OVERVIEW_MIN_PX / 2 and f <= 1024:
            out.append(f)
            f *= 2
        return out

    def _overviews_on(self, source) -> str:
        """Build the overviews on `source` (band-interleaved file or MEM dataset: band by
        band) and return the COG driver's OVERVIEWS option. The COG driver's own overviews
        go through a pixel-interleaved temporary file that it re-reads per band: quadratic
        in bands (1,280 bands, 257 x 201 px: 110 s against 0.25 s here)."""
        import rasterio
        from rasterio.enums import Resampling

        factors = self._cog_factors()
        if not factors:
            return "NONE"
        method = getattr(Resampling, self.resampling)
        if isinstance(source, (str, os.PathLike)):
            with rasterio.open(source, "r+") as ds:
                ds.build_overviews(factors, method)
        else:
            source.build_overviews(factors, method)
        return "FORCE_USE_EXISTING"

    def _to_cog(self, source, out: Path, opts: dict) -> None:
        """Copy `source` (a path or an open dataset) into the COG `out`, with overviews."""
        import rasterio
        import rasterio.shutil

        # creation options unchecked: GDAL lists BLOCKSIZE >= 128 but writes any multiple of 16
        with rasterio.Env(GDAL_VALIDATE_CREATION_OPTIONS="NO") as env:
            if "COG" not in env.drivers():
                raise EngineError("this GDAL has no COG driver (GDAL < 3.1)",
                                  "install the pinned rasterio: pip install -c constraints.txt "
                                  "rasterio")
            overviews = self._overviews_on(source)
            rasterio.shutil.copy(source, out, driver="COG", BLOCKSIZE=self.blocksize,
                                 COMPRESS="DEFLATE", OVERVIEWS=overviews,
                                 BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS", **opts)

    def close(self) -> Path:
        """Finalise (quantise, tile, overviews) and rename into place; return the path."""
        try:
            with atomic_path(self.path) as tmp:
                self._finalise_into(tmp)
        finally:
            self.abort()
        log.info("wrote %s (%d bands, %s)", self.path, self.count, self.dtype)
        return self.path

    def abort(self) -> None:
        """Drop the scratch file without producing an output."""
        self._mem = None
        with contextlib.suppress(Exception):
            self._ds.close()
        for f in (self._scratch, *self._scratch.parent.glob(self._scratch.name + "*")):
            with contextlib.suppress(OSError):
                f.unlink()

    def __enter__(self) -> EmbeddingFieldWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_geotiff(array: np.ndarray, crs, transform, path: str | os.PathLike[str],
                  nodata: float | None = None, dtype: str = "float32",
                  band_descriptions: list[str] | None = None, cog: bool = True,
                  blocksize: int = 256, valid: np.ndarray | None = None,
                  qml_ramp: str | None = None) -> Path:
    """Write (C, H, W) real values as a GeoTIFF (see module doc for dtypes); NaN -> nodata.

    `qml_ramp` (e.g. "viridis") writes a singleband-pseudocolor `<name>.qml` sidecar for a
    one-band map so QGIS opens it coloured.
    """
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise EngineError(f"a GeoTIFF array must be (bands, rows, cols), got {array.shape}",
                          "add a band axis")
    c, h, w = array.shape
    with EmbeddingFieldWriter(path, crs=crs, transform=transform, width=w, height=h, count=c,
                              dtype=dtype, nodata=nodata, band_descriptions=band_descriptions,
                              cog=cog, blocksize=blocksize,
                              colorinterp="gray" if c == 1 else None) as wr:
        wr.write(array, 0, 0, valid=valid)
        lo, hi = float(wr.lo[0]), float(wr.hi[0])
    out = Path(path)
    if qml_ramp is not None and c == 1 and np.isfinite(lo) and np.isfinite(hi):
        from engine.export.styles import raster_pseudocolor_qml, write_qml

        write_qml(out, raster_pseudocolor_qml(lo, hi, ramp=qml_ramp))
    return out
