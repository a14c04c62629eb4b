"""Training batches drawn for a whole batch at once, in every regime.

Drawing items one by one (a seeded generator per item, a dict per item, then collation) cost
about half of a step of the frozen regime's adapters (Lite0 features, batch 128, idle 2
cores: pipeline 0.50-0.59 of pure compute, bench/train_throughput.py) and about a third of a
full-regime batch's preparation (tiny_cnn, batch 32, two views of 64 px photos: 1.5 of
4.5 ms). Here one generator, keyed on (seed, epoch, the batch's first item and size: unique
per batch, since an epoch's batches are disjoint slices of one permutation), draws every
view, partner and augmentation of the batch with array operations, so a batch depends only
on the sampler's indices: the same with any number of workers and on resume. An item
(`GeoPairDataset[key]`) is the batch of that one key.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from torch.utils.data import default_collate

from engine.data.pairs import PairIndex
from engine.errors import EngineError
from engine.train.dataset import AUG, to_device  # dataset imports this module only in methods
from engine.train.sampler import KeyBatch


class Batched(dict):
    """A batch the dataset already collated: `collate` passes it through."""


def collate(items: list[Any]) -> Any:
    """The DataLoader's collate_fn: a `Batched` as it is, else torch's default collation."""
    if len(items) == 1 and isinstance(items[0], Batched):
        return dict(items[0])
    return default_collate(items)


class InlineBatches:
    """A GeoPairDataset's batches on a CPU without loader workers: the sampler's batches of
    keys drawn straight from the dataset (GeoPairDataset.__getitems__), the very batches a
    DataLoader would give. The DataLoader's own machinery (an iterator per epoch, the fetcher,
    the profiler hooks) added about 0.15 ms to each batch (bench/train_throughput.py's set-up,
    idle 2 cores), against about 0.2 ms for a whole batch of the frozen regime (Lite0
    features, batch 128)."""

    def __init__(self, dataset: Any, sampler: Any) -> None:
        self.dataset, self.sampler = dataset, sampler

    def __iter__(self) -> Any:
        for keys in self.sampler:
            yield collate(self.dataset.__getitems__(keys))

    def __len__(self) -> int:
        return len(self.sampler)


def batch_rng(seed: int, epoch: int, indices: np.ndarray) -> np.random.Generator:
    """A generator keyed on (seed, epoch, the batch's first item index, its size). The key
    goes in as uint32 words: the same entropy, so the same stream, as the list of ints it
    once was (each under 2**32), at 0.016 ms a generator against 0.027 ms."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(np.array(
        [seed & 0xFFFFFFFF, epoch, int(indices[0]), len(indices)], dtype=np.uint32))))


def partners(index: PairIndex, photos: np.ndarray, g: np.random.Generator) -> np.ndarray:
    """One partner per photo, uniformly among its partners."""
    start = index.indptr[photos]
    count = index.indptr[photos + 1] - start
    if (count == 0).any():
        bad = int(photos[np.argmax(count == 0)])
        raise EngineError(f"photo row {bad} has no positive partner to draw",
                          "re-mine the pairs (the anchors must all have partners)")
    pick = np.minimum((g.random(len(photos)) * count).astype(np.int64), count - 1)
    return index.indices[start + pick].astype(np.int64)


def draw_batch(ds: Any, keys: list[Any]) -> Batched:
    """The batch of items `keys` ((epoch, index) or index) of a GeoPairDataset: exactly the
    dataset's keys. Photos: uint8 (B, 3, S, S) with their augmentations' numbers ("<key>.aug",
    consumed by prepare_batch); the frozen regime: cached features (B, D), a random cached
    view each (view2 another than view1)."""
    if isinstance(keys, KeyBatch):  # the sampler's batches carry their indices as an array
        epoch, idx = keys.epoch, keys.indices
    else:
        epoch = int(keys[0][0]) if isinstance(keys[0], tuple) else 0
        idx = np.asarray([k[1] if isinstance(k, tuple) else k for k in keys], dtype=np.int64)
    g = batch_rng(ds.seed, epoch, idx)
    photo = np.asarray(ds.anchors, dtype=np.int64)[idx]
    src, want, out, gathers = ds.sources, ds.keys, Batched(), Gathers()
    first = None
    if "view1" in want:
        first = _images(ds, out, "view1", photo, g, gathers)
    if "view2" in want:
        _images(ds, out, "view2", photo, g, gathers, avoid=first)
    for key, index in (("temporal", src.pairs.temporal), ("spatial", src.pairs.spatial)):
        if key in want:
            _images(ds, out, key, partners(index, photo, g), g, gathers)
    if "lonlat" in want:
        out["lonlat"] = torch.from_numpy(src.pairs.lonlat[photo].astype(np.float32))
    if "cluster" in want:
        out["cluster"] = torch.from_numpy(np.asarray(src.clusters)[photo].astype(np.int64))
    if "overhead" in want and ds.chip_features is not None:
        chips = ds.chip_features
        gathers.add(chips, "overhead", photo, g.integers(0, chips.shape[1], size=len(photo)))
    elif "overhead" in want:
        out["overhead"] = torch.stack([src.overhead.chip(int(src.pairs.crossview_date[p]),
                                                         int(p)) for p in photo])
    if "time" in want:
        out["time"] = torch.from_numpy(np.ascontiguousarray(np.asarray(src.time)[photo]))
    if "time_valid" in want:
        out["time_valid"] = torch.from_numpy(np.asarray(src.pairs.time_valid, bool)[photo])
    gathers.into(out)
    return out


class Gathers:
    """The cached-feature rows a batch needs, gathered one table at a time: the frozen
    regime's two views of a batch (both from the photo table) in one gather rather than two,
    each key's tensor a contiguous slice of the result, with the values of a gather per key.
    bench/train_throughput.py on the frozen-Lite0 self recipe (median of 3 repeats, 2 idle
    cores, 2026-11-27), alternating with a gather per key: 0.890 / 0.899 / 0.929 against
    0.887 / 0.892 / 0.918: a small gain, within the machine's run-to-run swing."""

    def __init__(self) -> None:
        self._tables: dict[int, tuple[torch.Tensor, list[tuple[str, np.ndarray, np.ndarray]]]] = {}

    def add(self, table: torch.Tensor, key: str, rows: np.ndarray, views: np.ndarray) -> None:
        """Ask for table[rows, views] as the batch's `key`."""
        self._tables.setdefault(id(table), (table, []))[1].append((key, rows, views))

    def into(self, out: dict[str, torch.Tensor]) -> None:
        """Gather every table's rows at once into `out` (each key a contiguous slice)."""
        for table, wanted in self._tables.values():
            taken = _take(table, np.concatenate([w[1] for w in wanted]),
                          np.concatenate([w[2] for w in wanted]))
            for (key, _, _), part in zip(wanted, taken.split([len(w[1]) for w in wanted]),
                                         strict=True):
                out[key] = part


def _take(table: torch.Tensor, rows: np.ndarray, views: np.ndarray) -> torch.Tensor:
    """table[rows, views] for a (N, V, D) table of cached features. Drawn on the main
    thread (in line between training steps, or in a loader worker), torch's gather runs on
    the thread pool the step has just left idle: two views of the frozen-Lite0 adapters
    (batch 128 x 1,280, drawn between steps) in 0.19 ms against 0.33 ms for numpy's
    one-thread gather (2 idle cores, measured in line in one process, alternating). In a
    prefetch thread the step is using that pool at the same moment (8 ms on 2 busy cores):
    numpy's gather there. A table on a GPU (regimes.feature_home) is gathered there: only
    the row numbers are copied (dataset.to_device), without waiting for the queued step."""
    on_host = table.device.type == "cpu"
    if on_host and threading.current_thread() is not threading.main_thread():
        return torch.from_numpy(table.numpy()[rows, views])
    flat = table.reshape(-1, table.shape[-1])
    index = torch.from_numpy(rows * table.shape[1] + views)
    return flat.index_select(0, index if on_host else to_device(index, table.device))


def _images(ds: Any, out: Batched, key: str, rows: np.ndarray, g: np.random.Generator,
            gathers: Gathers, avoid: np.ndarray | None = None) -> np.ndarray | None:
    """out[key] for photo rows `rows`: a cached feature view each (asked of `gathers`; the
    views are returned, so view2 can avoid view1's), or the decoded photos and their
    augmentations' numbers (None)."""
    feats = ds.photo_features
    if feats is not None:
        n, size = feats.shape[1], len(rows)
        if avoid is not None and n > 1:  # view2 differs from view1
            views = g.integers(0, n - 1, size=size)
            views += views >= avoid
        else:
            views = g.integers(0, n, size=size)
        gathers.add(feats, key, rows, views)
        return views
    cut = ds.sources.views
    images = torch.stack([ds.cache.get(ds.sources.images[r], None if cut is None
                                       else tuple(cut[r])) for r in rows])
    out[key] = images
    out[key + AUG] = torch.from_numpy(ds.augment.draws(images.shape[2], images.shape[3], g,
                                                       len(rows)))
    return None
