"""Background prefetch: the next batches are loaded (and moved to the device) in a thread
while the current step computes. Torch kernels release the GIL, so loading overlaps them.
Order is unchanged, so results are the same as without prefetching.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


def use_prefetch(cfg: Any, device_type: str) -> bool:
    """Whether training draws its batches in a Prefetcher thread: `train.prefetch`, except
    for the frozen regime on a CPU whose cores torch's intra-op threads already fill. There a
    batch is a few table lookups in the feature cache (about 0.2 ms against a 5 ms step of
    the adapters: Lite0 features, batch 128), so the thread hides almost nothing and takes a
    core from torch's threads in the middle of their parallel loops (bench/train_throughput.py,
    docs/PERFORMANCE.md). With a spare core, on a GPU, or with images to decode, it pays."""
    if not cfg.train.prefetch:
        return False
    if getattr(cfg.train, "regime", "full") != "frozen" or device_type != "cpu":
        return True
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return torch.get_num_threads() < (cores or 1)


class Prefetcher:
    """Iterate `source` in a daemon thread, `depth` items ahead, applying `transform`."""

    def __init__(self, source: Iterable[Any], depth: int = 2,
                 transform: Callable[[Any], Any] | None = None) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._transform = transform or (lambda x: x)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(iter(source),), daemon=True)
        self._thread.start()

    def _work(self, it: Iterator[Any]) -> None:
        try:
            for item in it:
                if self._stop.is_set():
                    return
                self._queue.put(("item", self._transform(item)))
            self._queue.put(("end", _END))
        except BaseException as exc:  # re-raised in the consumer's thread
            self._queue.put(("error", exc))

    def __iter__(self) -> Iterator[Any]:
        while True:
            kind, value = self._queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value

    def close(self) -> None:
        """Stop the thread after its current item (drains the queue so it cannot block)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
