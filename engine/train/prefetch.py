"""How training draws its batches: in a background thread that loads the next ones (and moves
them to the device) while the current step computes (torch kernels release the GIL, so
loading overlaps them), or in line, in bursts, where torch's threads already fill the cores.
Order is unchanged either way, so results are the same as drawing one batch per step.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

_END = object()


def in_memory(cfg: Any, keys: Iterable[str] | None) -> bool:
    """Whether every batch is built from memory alone: cached features (the frozen regime),
    or photos decoded once up front (`data.cache_images`) with no loader workers and no
    overhead chip read from a raster per item. `keys` None: not known, so not assumed."""
    if getattr(cfg.train, "regime", "full") == "frozen":
        return True
    if keys is None or cfg.train.workers > 0 or not cfg.data.cache_images or cfg.overhead_only:
        return False
    return "overhead" not in set(keys)


def use_prefetch(cfg: Any, device_type: str, keys: Iterable[str] | None = None,
                 device_tables: bool = False) -> bool:
    """Whether training draws its batches in a Prefetcher thread: `train.prefetch`, except
    on a CPU whose cores torch's intra-op threads already fill, for batches built from
    memory (in_memory: `keys` are the batch keys). There the thread has no core to run on:
    it takes one from torch's threads in the middle of their parallel loops and holds the
    GIL while the step's Python waits for it. Frozen regime: a batch is a few table lookups
    (about 0.2 ms against a 5 ms step of the adapters, Lite0 features, batch 128); full
    regime (tiny_cnn, batch 32, two augmented views of cached photos): about 4 ms of
    preparation against an 80-100 ms step, and 306-337 images/s through the thread against
    387-398 in line (bench/train_throughput.py --prefetch thread / burst, 3 idle runs each,
    2026-11-26; docs/PERFORMANCE.md). With a spare core, on a GPU, or with files to read per
    batch, the thread pays. Not with `device_tables` (the frozen regime's features on the
    GPU, regimes.feature_home): a batch is then a gather queued on the GPU behind the step,
    and the host's share, drawing its row numbers, is about 0.1-0.2 ms."""
    if not cfg.train.prefetch or device_tables:
        return False
    if device_type != "cpu" or not in_memory(cfg, keys):
        return True
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return torch.get_num_threads() < (cores or 1)


BURST = 8  # batches drawn back to back where training draws them in line (see in_bursts)
MODES = {  # how training draws its batches, as its log says it
    "thread": "loaded ahead in a prefetch thread",
    "burst": f"drawn in line, {BURST} at a time (torch's threads fill the cores and the "
             "batches come from memory)",
    "none": "drawn in line, one per step (train.prefetch is false)",
    "gpu": f"gathered on the GPU from the cached features there, {BURST} at a time"}
BURST_MODES = ("burst", "gpu")  # the modes that draw BURST batches back to back (in_bursts)


def prefetch_mode(cfg: Any, device_type: str, keys: Iterable[str] | None = None,
                  device_tables: bool = False) -> str:
    """How training draws its batches (MODES): "thread" (a Prefetcher, where use_prefetch
    says so), "burst" (in line, BURST at a time: batches from memory on a CPU torch fills),
    "gpu" (in line, BURST at a time, gathered on the GPU from `device_tables`) or "none"
    (`train.prefetch` false: one at a time, in line)."""
    if not cfg.train.prefetch:
        return "none"
    if device_tables:
        return "gpu"
    return "thread" if use_prefetch(cfg, device_type, keys) else "burst"


def in_bursts(source: Iterable[Any], size: int = BURST) -> Iterator[Any]:
    """`source`'s items in order, drawn `size` at a time back to back. In the frozen regime a
    batch is a few table lookups between steps of small adapters; drawn one per step, the
    drawing code and the feature table are cold again each time (the step has evicted them),
    and the draw costs about three times what it costs hot. Drawn 8 at a time, a step of
    the frozen-Lite0 adapters (batch 128, 2 threads on 2 cores) took 0.32 ms less (6.19 vs
    6.55 ms, 26 of 30 paired rounds; 4 at a time: 0.16 ms, 16 at a time: 0.22 ms)."""
    it = iter(source)
    while True:
        items = list(itertools.islice(it, size))
        if not items:
            return
        yield from items


def batch_source(stream: Iterable[Any], mode: str) -> Iterable[Any]:
    """`stream` drawn as prefetch_mode `mode` says (a Prefetcher must be closed after use)."""
    if mode not in MODES:
        raise ValueError(f"unknown prefetch mode {mode!r}: one of {', '.join(MODES)}")
    if mode == "thread":
        return Prefetcher(stream, depth=2)
    return in_bursts(stream) if mode in BURST_MODES else stream


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
