"""The embedding-field grid: one output pixel per `stride` source pixels, a chip centred on each.

Output pixel (row i, col j) of the full field covers source pixels [i*s, (i+1)*s) x [j*s,
(j+1)*s) (s = stride), so the field's transform is the raster's scaled by s, and the field is
ceil(H/s) x ceil(W/s). Its chip is chip_px x chip_px centred on the output pixel's centre
(the same window as OverheadRaster.read_centered at that point), padded invalid (zeros)
outside the raster. The pixel is nodata when the source pixel at its centre, (i*s + s//2,
j*s + s//2) clamped into the raster, is invalid, when it lies outside the mask polygons, or
when less than MIN_CHIP_INSIDE of its chip's area lies inside the raster (an edge chip that
is largely padding embeds the padding, and its extreme values would dominate a map).
A bbox / mask crops the field to the output pixels it touches, on the same aligned grid.
A raster smaller than one chip is refused (check_one_chip), here and by overhead-only training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from affine import Affine

from engine.errors import EngineError

WINDOW_SIDE = 2048  # source pixels per block side (about): bounds the read window's memory
BLOCK_BYTES = 64 * 2**20  # bounds a block's (D, h, w) float32 output buffer
# an edge cell is embedded only when at most a quarter of its chip lies outside the raster: a
# chip that is a third padding already embeds the padding (the edge of a zero-shot map came out
# several times the interior's values and set the colour ramp)
MIN_CHIP_INSIDE = 0.75
# A field is cut into at least this many block rows (when it has that many output rows), so
# even a small raster has work for several torchrun ranks (engine.embed.shard). The plan never
# depends on the number of ranks: every rank count computes the very same batches.
MIN_BLOCK_ROWS = 8
# block sides are multiples of this (TIFF tiles are multiples of 16 px): a block then writes
# whole tiles of a band-interleaved scratch file. Blocks of 32 output px into 256 px tiles
# made GDAL re-read and re-write every band's tile per block: 1,280 bands, 313 x 313 px,
# 14 s of a 92 s embed-raster (bench/embed_raster.py, 20k px, stride 64)
BLOCK_ALIGN = 16


@dataclass(frozen=True)
class Block:
    """Output pixels [row:row+height, col:col+width] of the (cropped) field."""

    row: int
    col: int
    height: int
    width: int


@dataclass(frozen=True)
class FieldGrid:
    """The output grid over a raster grid (src_*), cropped to [row0:row0+height, col0:...]."""

    src_width: int
    src_height: int
    src_transform: Affine
    stride: int
    chip: int
    col0: int
    row0: int
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        """Affine of the cropped field: the raster's, scaled by the stride, shifted by the crop."""
        return self.src_transform @ Affine.scale(self.stride) @ Affine.translation(self.col0,
                                                                                  self.row0)

    @property
    def chip_offset(self) -> int:
        """Chip start minus output-pixel start, in source pixels (may be negative)."""
        return (self.stride - self.chip + 1) // 2

    def block_transform(self, b: Block) -> Affine:
        return self.transform @ Affine.translation(b.col, b.row)

    def block_shape(self, dim: int) -> tuple[int, int]:
        """(rows, cols) of a block: read window and (dim, h, w) output buffer bounded, at
        least MIN_BLOCK_ROWS block rows when the field has that many rows; multiples of
        BLOCK_ALIGN from that size on, so blocks fill whole tiles of the writer's scratch."""
        side = max(1, (WINDOW_SIDE - self.chip) // self.stride + 1)
        side = max(1, min(side, int(math.sqrt(BLOCK_BYTES / (4 * max(dim, 1))))))
        tall = max(1, min(side, math.ceil(self.height / MIN_BLOCK_ROWS)))
        return tuple(n - n % BLOCK_ALIGN if n >= BLOCK_ALIGN else n for n in (tall, side))

    def scratch_tile(self, dim: int) -> int | None:
        """The tile size (px) whose tiles the blocks write whole (None: blocks too small)."""
        tile = math.gcd(*self.block_shape(dim))
        return tile if tile % BLOCK_ALIGN == 0 else None

    def blocks(self, dim: int) -> list[Block]:
        """Row-major blocks of block_shape(dim) (smaller at the field's right and bottom)."""
        tall, side = self.block_shape(dim)
        return [Block(r, c, min(tall, self.height - r), min(side, self.width - c))
                for r in range(0, self.height, tall) for c in range(0, self.width, side)]

    def source_window(self, b: Block) -> tuple[int, int, int, int]:
        """(col_off, row_off, width, height) in source pixels covering the block's chips and
        the pixels its output cells span (where the centre pixels are)."""
        s, off = self.stride, self.chip_offset
        c0, r0 = (self.col0 + b.col) * s, (self.row0 + b.row) * s
        col = c0 + min(0, off)
        row = r0 + min(0, off)
        col_end = max(c0 + b.width * s, c0 + (b.width - 1) * s + off + self.chip)
        row_end = max(r0 + b.height * s, r0 + (b.height - 1) * s + off + self.chip)
        return col, row, col_end - col, row_end - row

    def centre_pixels(self, b: Block) -> tuple[np.ndarray, np.ndarray]:
        """(rows (h,), cols (w,)) of the centre source pixels, relative to source_window."""
        col, row, _, _ = self.source_window(b)
        s = self.stride
        gr = self.row0 + b.row + np.arange(b.height)
        gc = self.col0 + b.col + np.arange(b.width)
        rows = np.minimum(gr * s + s // 2, self.src_height - 1) - row
        cols = np.minimum(gc * s + s // 2, self.src_width - 1) - col
        return rows, cols

    def chip_inside(self, b: Block) -> np.ndarray:
        """(h, w) bool: cells whose chip has at least MIN_CHIP_INSIDE of its area in the raster."""
        s, off, chip = self.stride, self.chip_offset, self.chip

        def inside(first: int, n: int, size: int) -> np.ndarray:
            start = (first + np.arange(n)) * s + off
            return np.clip(np.minimum(start + chip, size) - np.maximum(start, 0), 0, chip) / chip

        rows = inside(self.row0 + b.row, b.height, self.src_height)
        cols = inside(self.col0 + b.col, b.width, self.src_width)
        return np.outer(rows, cols) >= MIN_CHIP_INSIDE - 1e-9

    def chip_starts(self, b: Block) -> tuple[np.ndarray, np.ndarray]:
        """(rows (h,), cols (w,)) where each cell's chip starts, relative to source_window."""
        col, row, _, _ = self.source_window(b)
        s, off = self.stride, self.chip_offset
        rows = (self.row0 + b.row + np.arange(b.height)) * s + off - row
        cols = (self.col0 + b.col + np.arange(b.width)) * s + off - col
        return rows, cols


def _metres(v: float) -> str:
    return f"{round(v, 3):.10g} m"


def check_one_chip(path: Any, width: int, height: int, chip_px: int,
                   res_m: float | None = None,
                   flags: tuple[str, str] = ("--chip {}", "--chip-m {}")) -> None:
    """EngineError naming the raster when its width x height px grid is smaller than one
    chip_px chip: every chip would be mostly padding (embed-raster and overhead-only training
    both refuse it). `res_m` (metres per pixel) adds metres; `flags` spell the chip size in
    pixels and in metres for the hint ("{}": the largest that fits)."""
    side = min(int(width), int(height))
    if side >= chip_px:
        return
    size, chip = f"{width} x {height} px", f"{chip_px} px chip"
    fits = f"{flags[0].format(side)}, or {flags[1].format('M')} in metres"
    if res_m:
        size += f" ({_metres(width * res_m)} x {_metres(height * res_m)})"
        chip += f" ({_metres(chip_px * res_m)})"
        fits = f"{flags[1].format(f'{round(side * res_m, 3):.10g}')} or {flags[0].format(side)}"
    raise EngineError(f"the raster {path} is {size}, smaller than one {chip}",
                      f"use a smaller chip (at most {fits}) or a larger raster")


def full_grid(width: int, height: int, transform: Affine, stride: int, chip: int) -> FieldGrid:
    """The uncropped field over a width x height raster."""
    if stride < 1 or chip < 1:
        raise EngineError(f"stride {stride} px / chip {chip} px must be positive",
                          "use e.g. --chip 64 --stride 32")
    return FieldGrid(width, height, transform, stride, chip, 0, 0,
                     math.ceil(width / stride), math.ceil(height / stride))


def crop_grid(grid: FieldGrid, bounds: tuple[float, float, float, float], what: str,
              raster_bounds: Any) -> FieldGrid:
    """The grid cropped to the output pixels touching `bounds` (xmin, ymin, xmax, ymax) given
    in the grid's CRS; EngineError naming `what` when they do not overlap the raster."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmin >= xmax or ymin >= ymax:
        raise EngineError(f"{what} {bounds} is not a box (need xmin < xmax, ymin < ymax)",
                          "give --bbox xmin ymin xmax ymax in the raster's CRS")
    inv = ~grid.src_transform
    px = [inv @ (x, y) for x in (xmin, xmax) for y in (ymin, ymax)]
    cmin, cmax = min(p[0] for p in px), max(p[0] for p in px)
    rmin, rmax = min(p[1] for p in px), max(p[1] for p in px)
    s = grid.stride
    c0 = max(grid.col0, math.floor(cmin / s))
    r0 = max(grid.row0, math.floor(rmin / s))
    c1 = min(grid.col0 + grid.width, math.ceil(cmax / s))
    r1 = min(grid.row0 + grid.height, math.ceil(rmax / s))
    if c1 <= c0 or r1 <= r0:
        b = raster_bounds
        raise EngineError(
            f"{what} {tuple(round(v, 3) for v in (xmin, ymin, xmax, ymax))} does not overlap "
            f"the raster (bounds {b.left:.3f} {b.bottom:.3f} {b.right:.3f} {b.top:.3f})",
            "give a box inside the raster, in the raster file's CRS" if what == "bbox" else
            f"give {what.split()[0]} polygons that cover part of the raster")
    return FieldGrid(grid.src_width, grid.src_height, grid.src_transform, s, grid.chip,
                     c0, r0, c1 - c0, r1 - r0)
