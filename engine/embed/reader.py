"""A reader thread that cuts the chips of an embedding field, block by block, ahead of compute.

It reads one source window per block, or, where the chips are sparse (stride at least twice
the chip), only the block's chips (read_block); GDAL releases the GIL, so reads overlap the
model's forward pass. It turns them into model input with the model's radiometry
(engine.data.radiometry: bands, scaling) and puts batches into a bounded queue: at most
`depth` batches wait, so memory does not grow with the raster.
Items, in order: ("block", Block, valid (h,w)), ("chips", rows (n,), cols (n,), float32
(n,C,chip,chip)) ..., ("block_end", Block), ..., ("done",); ("error", exc) on failure.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.embed.grid import Block, FieldGrid

log = logging.getLogger(__name__)

# GDAL calls of the reader thread (source reads) and of the consumer (field writes) never run
# at once: with both in flight, a tile of the field's scratch file was seen losing one band's
# write (about 1 run in 40 under CPU load). Compute still overlaps I/O; only I/O serialises.
GDAL_IO = threading.Lock()


# Grids whose chips span at most this share of their block's source rows and columns (a stride
# of at least twice the chip) read each chip on its own. At stride 256 with 64 px chips the
# whole window (2048 x 2048 px: values, mask, float conversion) cost the reader thread about
# 75 ms a block against the model's 64 ms, so the reader set the pace (20k px raster, 1 torch
# thread: bench/embed_raster.py); 64 chip reads cost about 10 ms.
SPARSE_SHARE = 0.5


def read_block(raster: Any, grid: FieldGrid, block: Block) -> tuple[np.ndarray, ...]:
    """(values (C, H, W), valid (H, W), centre rows (h,), centre cols (w,), chip start rows
    (h,), chip start cols (w,)) of a block's source pixels (OverheadRaster.read_window; 8 and
    16-bit bands as they are: Radiometry.normalise converts them as it would their float32),
    positions relative to the values: the whole source window, or (sparse grids,
    SPARSE_SHARE) the block's chips read one by one and laid side by side. The chips' pixels
    are the same either way; each read holds GDAL_IO on its own, so the field's writes wait
    for one chip, not a whole window."""
    col, row, width, height = grid.source_window(block)
    crow, ccol = grid.centre_pixels(block)
    srow, scol = grid.chip_starts(block)
    chip = grid.chip
    inside = all(((c >= s) & (c < s + chip)).all() for c, s in ((crow, srow), (ccol, scol)))
    if (not inside or len(srow) * chip > SPARSE_SHARE * height
            or len(scol) * chip > SPARSE_SHARE * width):
        with GDAL_IO:
            win = raster.read_window(col, row, width, height, raw=True)
        return win.data, win.valid, crow, ccol, srow, scol
    data = np.empty((raster.count, len(srow) * chip, len(scol) * chip),
                    dtype=raster.raw_dtype() or np.float32)
    valid = np.empty(data.shape[1:], dtype=bool)
    for i, r in enumerate(srow):
        for j, c in enumerate(scol):
            with GDAL_IO:
                win = raster.read_window(col + int(c), row + int(r), chip, chip, raw=True)
            cell = (slice(i * chip, (i + 1) * chip), slice(j * chip, (j + 1) * chip))
            data[(slice(None), *cell)] = win.data
            valid[cell] = win.valid
    first_row, first_col = np.arange(len(srow)) * chip, np.arange(len(scol)) * chip
    return (data, valid, first_row + (crow - srow), first_col + (ccol - scol), first_row,
            first_col)


class BlockChips:
    """The chips of one block, cut batch by batch from its read (read_block)."""

    def __init__(self, raster: Any, grid: FieldGrid, block: Block, radiometry: Any,
                 mask: Any = None) -> None:
        data, win_valid, crow, ccol, srow, scol = read_block(raster, grid, block)
        valid = win_valid[np.ix_(crow, ccol)] & grid.chip_inside(block)
        if mask is not None:
            valid &= mask.inside(grid.block_transform(block), (block.height, block.width))
        self.valid = valid  # (h, w): cells that get an embedding
        self.rows, self.cols = np.nonzero(valid)
        self.radiometry, self.chip = radiometry, grid.chip
        # normalise the whole window once, or (sparse chips: stride > chip) only the chips'
        # pixels, batch by batch: per-pixel arithmetic either way, the same values
        self.per_chip = len(self.rows) * grid.chip ** 2 < win_valid.size
        bands = data if self.per_chip else radiometry.normalise(data, win_valid)
        self._view = sliding_window_view(bands, (grid.chip, grid.chip), axis=(1, 2))
        self._valid = sliding_window_view(win_valid, (grid.chip, grid.chip)) \
            if self.per_chip else None
        self._srow, self._scol = srow, scol

    def __len__(self) -> int:
        return len(self.rows)

    def chips(self, start: int, stop: int) -> np.ndarray:
        """float32 (n, C, chip, chip) chips of valid cells start..stop (row-major order)."""
        rows, cols = self.rows[start:stop], self.cols[start:stop]
        sr, sc = self._srow[rows], self._scol[cols]
        cut = self._view[:, sr, sc]  # (C, n, chip, chip)
        if self.per_chip:  # the chips side by side as one (C, n * chip, chip) image
            c, n, k = cut.shape[0], cut.shape[1], self.chip
            cut = self.radiometry.normalise(cut.reshape(c, n * k, k),
                                            self._valid[sr, sc].reshape(n * k, k))
            cut = cut.reshape(c, n, k, k)
        return np.ascontiguousarray(cut.transpose(1, 0, 2, 3))


class ChipReader:
    """Start with `start()`, iterate the items, `close()` in a finally (stops the thread)."""

    def __init__(self, raster: Any, grid: FieldGrid, blocks: list[Block], batch_size: int,
                 radiometry: Any, mask: Any = None, depth: int = 4) -> None:
        self.raster, self.grid, self.blocks, self.mask = raster, grid, blocks, mask
        self.radiometry = radiometry
        self.batch_size = int(batch_size)
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="embed-raster-reader",
                                       daemon=True)
        self.wait_s = 0.0  # time the consumer spent waiting for the reader

    def start(self) -> ChipReader:
        self.thread.start()
        return self

    def _put(self, item: tuple) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for block in self.blocks:
                cut = BlockChips(self.raster, self.grid, block, self.radiometry, self.mask)
                if not self._put(("block", block, cut.valid)):
                    return
                for i in range(0, len(cut), self.batch_size):
                    j = i + self.batch_size
                    if not self._put(("chips", cut.rows[i:j], cut.cols[i:j], cut.chips(i, j))):
                        return
                del cut
                if not self._put(("block_end", block)):
                    return
            self._put(("done",))
        except BaseException as exc:
            self._put(("error", exc))

    def __iter__(self) -> Iterator[tuple]:
        import time

        while True:
            t0 = time.perf_counter()
            item = self.queue.get()
            self.wait_s += time.perf_counter() - t0
            if item[0] == "done":
                return
            if item[0] == "error":
                raise item[1]
            yield item

    def close(self) -> None:
        """Stop the thread (if still running) and wait for it."""
        self.stop.set()
        self.thread.join(timeout=30)
