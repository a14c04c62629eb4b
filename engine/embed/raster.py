"""Overhead raster -> embedding field: a tiled COG GeoTIFF, one band per embedding dimension.

One output pixel per `stride_px` source pixels, each the embedding of the chip_px x chip_px
chip centred on it (grid and nodata rule: engine.embed.grid). A reader thread cuts chips
block by block ahead of the model (engine.embed.reader), and finished blocks stream to
EmbeddingFieldWriter, so memory is bounded whatever the raster's size. Beside OUT.tif:
OUT_pca.tif (3-band PCA preview) and OUT.json (model, encoder, chip, stride, CRS, counts, and
the radiometry: bands and scaling the chips were made with, engine.data.radiometry).

Sizes: chip and stride in pixels, or in metres (`chip_m`, `stride_m`, converted with the
raster's pixel size). A model that records its ground sampling distance warns when the
raster's differs by more than GSD_FACTOR.

CRS: the field is in the raster's CRS. A raster in a geographic CRS (degrees) is read through
a WarpedVRT in its local UTM zone (engine.data.rasters.metric_target_crs), so chips are
square in metres, and the field is in that UTM CRS (result["crs"], ["reprojected"]).
The field is north-up whatever the raster's orientation (a south-up raster is read with its
rows flipped: engine.data.rasters).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.crs import crs_name, to_pyproj
from engine.defaults import (
    CHIP_PX,
    DEVICE,
    EMBED_BATCH,
    ENCODER,
    FIELD_DTYPE,
    FIELD_DTYPES,
    RUNTIME,
    default_stride,
)
from engine.embed import accel, shard
from engine.embed.common import field_tags, input_channels, pick_encoder
from engine.embed.grid import FieldGrid, check_one_chip, crop_grid, full_grid
from engine.embed.reader import ChipReader
from engine.embed.write_thread import WriteThread
from engine.errors import EngineError
from engine.models.device import resolve_device
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

# GDAL's block cache (default 5 % of RAM) would otherwise grow with the raster read: every
# source tile is read about once, so a fixed cache keeps peak memory independent of size.
GDAL_CACHE_MB = 128
GSD_FACTOR = 2.0  # warn when the raster's pixel size and the model's differ by more than this


def open_metric(raster_path: str | os.PathLike[str]) -> tuple[Any, bool]:
    """(OverheadRaster, reprojected): geographic rasters are warped to their local UTM zone."""
    from engine.data.rasters import metric_target_crs, open_raster

    raster = open_raster(raster_path)
    if not raster.is_geographic:
        return raster, False
    target = metric_target_crs(raster)
    raster.close()
    log.info("%s is in degrees: reading it reprojected to %s", raster_path, crs_name(target))
    return open_raster(raster_path, target_crs=target), True


def plan_grid(raster: Any, chip_px: int, stride_px: int, bbox: Any = None,
              bbox_crs: Any = None, mask: Any = None, res_m: float | None = None) -> FieldGrid:
    """The field grid over `raster`, cropped to `bbox` (in bbox_crs) and the mask's extent;
    `res_m`: the pixel size in metres, for the message when the chip was given in metres."""
    from rasterio.warp import transform_bounds

    check_one_chip(raster.path, raster.width, raster.height, chip_px, res_m)
    grid = full_grid(raster.width, raster.height, raster.transform, stride_px, chip_px)
    if bbox is not None:
        if len(bbox) != 4:
            raise EngineError(f"bbox {bbox} must have four numbers", "xmin ymin xmax ymax")
        box = tuple(float(v) for v in bbox)
        if bbox_crs is not None and not to_pyproj(bbox_crs).equals(to_pyproj(raster.crs)):
            box = transform_bounds(to_pyproj(bbox_crs).to_wkt(), raster.crs, *box)
        grid = crop_grid(grid, box, "bbox", raster.bounds)
    if mask is not None:
        grid = crop_grid(grid, mask.bounds, f"mask {mask.path}", raster.bounds)
    return grid


def _compute(reader: ChipReader, writer: Any, encode: Callable[[Any], Any], dev: Any,
             dim: int, total: int, progress: Progress) -> tuple[int, float]:
    """Embed the reader's batches, write each finished block; (chips, model seconds)."""
    import torch

    n_chips, done, model_s = 0, 0, 0.0
    buf = valid = None
    with WriteThread(writer) as sink:
        for item in reader:
            if item[0] == "block":
                block, valid = item[1], item[2]
                # pixel-major: a batch's embeddings land as whole rows (scattering them into
                # (dim, h, w) took 1.1 ms a batch of 64 x 1,280, ~2% of the model's time);
                # a new buffer per block: the write thread may still hold the last one
                buf = np.zeros((block.height, block.width, dim), dtype=np.float32)
            elif item[0] == "chips":
                t0 = time.perf_counter()
                emb = encode(torch.from_numpy(item[3]).to(dev, non_blocking=True))
                buf[item[1], item[2]] = emb.float().cpu().numpy()
                model_s += time.perf_counter() - t0
                n_chips += len(item[1])
            else:  # block_end: the block streams to the writer (on its thread)
                block = item[1]
                sink.write(buf.transpose(2, 0, 1), block.col, block.row, valid=valid)
                buf = None
                done += block.height * block.width
                progress(done, total, "embed-raster")
    return n_chips, model_s


def sizes_px(raster: Any, chip_px: int | None, stride_px: int | None,
             chip_m: float | None = None, stride_m: float | None = None,
             default_chip: int = CHIP_PX) -> tuple[int, int]:
    """Chip and stride in raster pixels; metres are converted with the raster's pixel size."""
    res = float((abs(raster.res[0]) + abs(raster.res[1])) / 2)
    for name, v in (("--chip-m", chip_m), ("--stride-m", stride_m)):
        if v is not None and not v > 0:
            raise EngineError(f"{name} {v} must be a positive number of metres", "e.g. 480")
    chip = max(1, round(chip_m / res)) if chip_m is not None else int(chip_px or default_chip)
    stride = max(1, round(stride_m / res)) if stride_m is not None else \
        int(stride_px or default_stride(chip))
    if chip < 1 or stride < 1:
        raise EngineError(f"chip {chip} px and stride {stride} px must be positive",
                          "use --chip/--stride (pixels) or --chip-m/--stride-m (metres)")
    return chip, stride


def check_gsd(model_gsd_m: float | None, raster: Any, raster_path: Any) -> str | None:
    """A warning (also logged) when the raster's pixel size is > GSD_FACTOR x off the model's."""
    if not model_gsd_m:
        return None
    res = float((abs(raster.res[0]) + abs(raster.res[1])) / 2)
    ratio = max(res / model_gsd_m, model_gsd_m / res)
    if ratio <= GSD_FACTOR:
        return None
    msg = (f"{raster_path} has {res:g} m pixels but the model was trained on {model_gsd_m:g} m "
           f"pixels ({ratio:.1f}x apart): chips of the same size in pixels cover a different "
           "ground area; resample the raster or use a model trained near this resolution")
    log.warning("%s", msg)
    return msg


def _bounded_gdal_cache(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run `fn` with GDAL's block cache capped at GDAL_CACHE_MB (restored afterwards)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import rasterio

        # an int is bytes to rasterio: GDAL_CACHEMAX=128 was a 128-byte cache, and reading a
        # tiled Landsat scene's statistics took 36 s instead of 0.6 s
        with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024):
            return fn(*args, **kwargs)

    return wrapper


@_bounded_gdal_cache
def embed_raster(model: Any, raster_path: str | os.PathLike[str],
                 out_tif: str | os.PathLike[str], chip_px: int | None = CHIP_PX,
                 stride_px: int | None = None, encoder: str = ENCODER,
                 dtype: str = FIELD_DTYPE, bbox: Any = None,
                 mask: str | os.PathLike[str] | None = None, batch_size: int = EMBED_BATCH,
                 progress: Progress = no_progress, *, device: str = DEVICE,
                 model_name: str = "", model_id: str = "", preview: bool = True,
                 bbox_crs: Any = None, chip_m: float | None = None,
                 stride_m: float | None = None, expected: dict[str, Any] | None = None,
                 bands: Any = None, scaling: str | None = None,
                 scale: Any = None, runtime: str = RUNTIME) -> dict[str, Any]:
    """Write the embedding field of `raster_path` to `out_tif` (+ PCA preview, + JSON).

    `bbox` (xmin, ymin, xmax, ymax) is in `bbox_crs`, by default the raster file's CRS;
    `mask` is a polygon layer: only output pixels whose centres fall inside are computed.
    `expected` is the model's raster record (config.yaml `input:`; None: 8-bit RGB);
    `bands`, `scaling`, `scale` override it (engine.data.radiometry.for_raster). Chip and
    stride in metres (`chip_m`, `stride_m`) take precedence over pixels; `stride_px` None:
    engine.defaults.default_stride(chip).
    `runtime` runs the encoder on torch, OpenVINO or ONNX Runtime (engine.embed.accel).
    """
    if dtype not in FIELD_DTYPES:
        raise EngineError(f"unknown field dtype {dtype!r}", f"use one of {FIELD_DTYPES}")
    if batch_size < 1:
        raise EngineError(f"batch size {batch_size} must be positive", "use e.g. 64")
    out_tif = Path(out_tif)
    if out_tif.suffix.lower() not in (".tif", ".tiff"):
        raise EngineError(f"output {out_tif} is not a .tif file", "name it OUT.tif")
    encoder = pick_encoder(model, encoder)
    dev = resolve_device(device)
    with shard.session(dev) as place:
        return _embed_raster(model, raster_path, out_tif, chip_px, stride_px, encoder, dtype,
                             bbox, mask, batch_size, progress, place,
                             (model_name, model_id), preview,
                             bbox_crs, {"chip_m": chip_m, "stride_m": stride_m,
                                        "expected": expected, "bands": bands,
                                        "scaling": scaling, "scale": scale,
                                        "runtime": runtime})


def _embed_raster(model: Any, raster_path: str | os.PathLike[str], out_tif: Path,
                  chip_px: int | None, stride_px: int | None, encoder: str, dtype: str,
                  bbox: Any, mask: Any, batch_size: int, progress: Progress, place: Any,
                  made_by: tuple[str, str], preview: bool, bbox_crs: Any,
                  inputs: dict[str, Any]) -> dict[str, Any]:
    """embed_raster on this rank (engine.embed.shard: world 1 outside torchrun); `made_by`:
    the model's (name, identity) for the field's tags."""
    import torch

    from engine.data.radiometry import for_raster
    from engine.embed.mask import PolygonMask
    from engine.export.atomic import atomic_outputs
    from engine.export.geotiff import EmbeddingFieldWriter
    from engine.export.preview import pca_preview

    dev = place.device
    model.eval().to(dev)
    dim = int(model.embedding_dim)
    t_start = time.perf_counter()
    raster, reprojected = open_metric(raster_path)
    preview_path = out_tif.with_name(out_tif.stem + "_pca.tif")
    meta = out_tif.with_suffix(".json")
    with raster, shard.Parts(out_tif, place) as parts, contextlib.ExitStack() as stack:
        # rank 0 commits the field, its preview and its JSON together (never a stale side
        # file); the other ranks write only their parts
        outs = stack.enter_context(atomic_outputs(out_tif, meta, preview_path)) \
            if place.is_main else None
        enc = model.overhead_encoder if encoder == "overhead" else model.image_encoder
        in_chans = input_channels(enc)
        expected = inputs["expected"]
        rad = for_raster(expected, raster_path, inputs["bands"], inputs["scaling"],
                         inputs["scale"], in_chans=in_chans)
        if rad.count != in_chans:
            raise EngineError(f"the model's {encoder} encoder takes {in_chans} bands, the "
                              f"radiometry gives {rad.count}",
                              f"pass --bands with {in_chans} bands")
        raster.band_indexes = list(rad.bands)
        gsd_warning = check_gsd((expected or {}).get("gsd_m"), raster, raster_path)
        chip_px, stride_px = sizes_px(raster, chip_px, stride_px, inputs["chip_m"],
                                      inputs["stride_m"])
        res_m = float((abs(raster.res[0]) + abs(raster.res[1])) / 2)
        if bbox_crs is None and bbox is not None:
            import rasterio

            with rasterio.open(raster_path) as src:
                bbox_crs = src.crs
        polygons = PolygonMask(mask, raster.crs) if mask is not None else None
        grid = plan_grid(raster, chip_px, stride_px, bbox, bbox_crs, polygons,
                         res_m if inputs["chip_m"] is not None else None)
        blocks = grid.blocks(dim)
        mine = shard.mine(blocks, place)
        total = grid.width * grid.height
        share = sum(b.height * b.width for b in mine)  # this rank's output pixels
        encode = accel.encoder_fn(model, "embed_overhead" if encoder == "overhead" else
                                  "embed_image", dev, inputs["runtime"], n_items=share)
        log.info("embedding field %dx%d px (stride %d, chip %d) of %s in %d blocks%s",
                 grid.width, grid.height, stride_px, chip_px, raster_path, len(blocks),
                 f" ({len(mine)} on rank {place.rank} of {place.world})" if place.distributed
                 else "")
        reader = ChipReader(raster, grid, mine, batch_size, rad, polygons).start()
        # the runtime's import / export / compile overlaps the reader's first blocks
        accel.prepare(encode, (min(batch_size, max(share, 1)), in_chans, chip_px, chip_px))
        try:
            if not place.is_main:  # this rank's blocks become parts; rank 0 assembles
                with torch.inference_mode():
                    n_chips, model_s = shard.agree(lambda: _compute(
                        reader, shard.RasterPart(parts), encode, dev, dim, share, progress),
                        place)
                return {"rank": place.rank, "world": place.world, "chips": int(n_chips),
                        "model_seconds": round(model_s, 3)}
            with EmbeddingFieldWriter(
                    outs.path(out_tif), crs=raster.crs, transform=grid.transform,
                    width=grid.width, height=grid.height, count=dim, dtype=dtype,
                    band_descriptions=[f"emb_{k:03d}" for k in range(dim)],
                    tags=field_tags(made_by[0], dim, encoder, made_by[1]),
                    scratch_tile=grid.scratch_tile(dim)) as writer, \
                    torch.inference_mode():
                n_chips, model_s = shard.agree(lambda: _compute(
                    reader, writer, encode, dev, dim, share, progress), place)
                n_chips += shard.assemble_raster(parts, blocks, writer)
                t_write = time.perf_counter()
                early = n_chips and preview and writer.holds_values
                if early:  # from the values in memory, before the COG is compressed
                    pca_preview(outs.path(out_tif), outs.path(preview_path),
                                progress=progress, source=writer)
                preview_s = time.perf_counter() - t_write
        finally:
            reader.close()
        crs = raster.crs
        seconds = time.perf_counter() - t_start - preview_s
        outputs = {"output": str(out_tif)}
        t_preview = time.perf_counter()
        if n_chips and preview:
            if not early:
                pca_preview(outs.path(out_tif), outs.path(preview_path), progress=progress)
            outputs["preview"] = str(preview_path)
        elif not n_chips:
            log.warning("no valid pixel in the area: %s is all nodata (no PCA preview)",
                        out_tif)
        info = {
            **outputs, "model": made_by[0], "encoder": encoder, "chip_px": int(chip_px),
            "stride_px": int(stride_px), "chip_m": round(chip_px * res_m, 3),
            "stride_m": round(stride_px * res_m, 3), "gsd_m": round(res_m, 4),
            "radiometry": rad.to_dict(), "gsd_warning": gsd_warning, "dtype": dtype,
            "dimension": dim, "crs": crs_name(crs), "reprojected": reprojected,
            "source": str(raster_path), "width": grid.width, "height": grid.height,
            "transform": list(grid.transform)[:6], "chips": int(n_chips),
            "nodata_pixels": int(total - n_chips),
            "seconds": round(seconds, 3), "model_seconds": round(model_s, 3),
            "finalise_seconds": round(seconds - (t_write - t_start), 3),
            "reader_wait_seconds": round(reader.wait_s, 3),
            "preview_seconds": round(preview_s + time.perf_counter() - t_preview, 3),
            "chips_per_s": round(n_chips / seconds, 2) if seconds > 0 else None,
            "ranks": place.world,
        }
        outs.path(meta).write_text(json.dumps(info, indent=2), encoding="utf-8")
    info["metadata"] = str(meta)
    log.info("embedded %d chips in %.1f s (%.1f chips/s; model %.1f s, waiting for reads "
             "%.1f s)", n_chips, seconds, n_chips / max(seconds, 1e-9), model_s, reader.wait_s)
    return info
