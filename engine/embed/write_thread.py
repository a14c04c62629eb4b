"""Finished blocks of an embedding field written on a thread beside the model.

Writing a block (float16 rounding, nodata, copying 1,280 bands into the field) took the model's
thread about 3.5 % of an embed-raster job (bench/embed_raster.py, 64 px chips at stride 64,
EfficientNet-Lite0 on OpenVINO); numpy releases the GIL for it, so on a thread it overlaps the
next batches' forward passes. Writes hold GDAL_IO as the consumer's did (the reader thread's
reads and the field's writes never run at once). At most `depth` blocks wait: memory stays
bounded (a block's buffer is at most engine.embed.grid.BLOCK_BYTES).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from engine.embed.reader import GDAL_IO

_DONE = object()


class WriteThread:
    """`write` queues a block for `writer.write`; `close` waits for every write and raises
    the first error a write raised (also raised by the next `write` once it happened)."""

    def __init__(self, writer: Any, depth: int = 1) -> None:
        self.writer = writer
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="embed-raster-writer",
                                       daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if self.error is not None:
                continue  # drain: the consumer raises the error at its next call
            try:
                with GDAL_IO:
                    self.writer.write(*item[0], **item[1])
            except BaseException as exc:  # handed to the consumer's thread
                self.error = exc

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def write(self, *args: Any, **kwargs: Any) -> None:
        """Queue `writer.write(*args, **kwargs)`; the arrays must not change afterwards."""
        self._raise()
        self.queue.put((args, kwargs))

    def _finish(self) -> None:
        """Let the thread write (or drain) what is queued, then end it."""
        if self.thread.is_alive():
            self.queue.put(_DONE)
            self.thread.join()

    def close(self) -> None:
        """Wait for the queued writes; raise the first error."""
        self._finish()
        self._raise()

    def __enter__(self) -> WriteThread:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # an error elsewhere: finish quietly, it propagates
            self._finish()
