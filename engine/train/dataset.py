"""A map-style dataset over anchor photos that yields exactly the batch keys objectives require.

Keys: view1, view2 (two augmentations of the anchor), temporal (the same place at another
time), spatial (a nearby place at about the same time), lonlat (degrees), cluster (k-means
id), overhead (chip centred on the anchor from the nearest date), time (4 features),
time_valid. Items are addressed by (epoch, index); a batch of them is drawn at once, from one
generator keyed on the batch (engine.train.batch_draw), and an item is the batch of one key.
Photos travel as uint8 with their augmentation's random numbers ("<key>.aug"); the training
step's `prepare_batch` augments them batched on the device and drops those extra entries,
so the objectives see exactly the keys they require. Decoded photos live in an in-memory
uint8 cache (filled up front, before workers fork); rasters open lazily in each process.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.pairs import MinedPairs
from engine.errors import EngineError
from engine.models.inputs import normalize_uint8, rgb_uint8
from engine.models.photo_input import DEFAULT_RESIZE, check_resize, is_view, read_photo
from engine.progress import Progress, no_progress
from engine.train.augment import Augment, augment_batch

log = logging.getLogger(__name__)

BATCH_KEYS = ("view1", "view2", "temporal", "spatial", "lonlat", "cluster", "overhead",
              "time", "time_valid")
IMAGE_KEYS = ("view1", "view2", "temporal", "spatial")
AUG = ".aug"  # items carry "<key>.aug" (the augmentation's random numbers) until prepare_batch


class ImageCache:
    """Decoded photos as uint8 (3,S,S) tensors in memory, keyed by path and panorama view;
    filled on demand. Photos are read by engine.models.photo_input (the model's resize
    policy, panorama views cut), exactly as embed-points reads them."""

    def __init__(self, size: int, enabled: bool = True, resize: str = DEFAULT_RESIZE) -> None:
        self.size, self.enabled, self.resize = size, enabled, check_resize(resize)
        self._images: dict[tuple, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self._images)

    def get(self, path: str, view: tuple[float, float] | None = None) -> torch.Tensor:
        key = (path, *view) if is_view(view) else (path,)
        img = self._images.get(key)
        if img is None:
            pixels = read_photo(path, self.size, self.resize, view)
            img = torch.from_numpy(pixels).permute(2, 0, 1).contiguous()
            if self.enabled:
                self._images[key] = img
        return img

    def fill(self, paths: list[str], progress: Progress = no_progress,
             views: list | None = None) -> None:
        """Decode every photo up front (before workers fork, so they share the pages)."""
        views = views if views is not None else [None] * len(paths)
        unique = list(dict.fromkeys(zip(paths, [tuple(v) if is_view(v) else None
                                                for v in views], strict=True)))
        for k, (path, view) in enumerate(unique):
            self.get(path, view)
            if k % 64 == 0 or k == len(unique) - 1:
                progress(k + 1, len(unique), "decode photos")

    def nbytes(self) -> int:
        return sum(a.numel() for a in self._images.values())


class OverheadChips:
    """Overhead chips (uint8 (3,h,w) tensors, invalid pixels 0) around photos, one per date.

    Each process opens its rasters lazily (GDAL handles never cross a fork) and caches chips.
    """

    def __init__(self, paths: list[str], xy_per_raster: list[np.ndarray], chip_size: int,
                 res: float | None = None, scale: tuple[float, float] | None = None) -> None:
        self.paths, self.xy, self.chip_size, self.res = paths, xy_per_raster, chip_size, res
        self.scale = scale  # (scale, offset) to 0..255 for rasters that are not 8-bit
        self._open: dict[int, Any] = {}
        self._pid = -1
        self._chips: dict[tuple[int, int], torch.Tensor] = {}

    def __getstate__(self) -> dict[str, Any]:  # spawn-started workers: no handles
        return {**self.__dict__, "_open": {}, "_pid": -1}

    def _raster(self, r: int) -> Any:
        if self._pid != os.getpid():
            self._open, self._pid = {}, os.getpid()
        if r not in self._open:
            from engine.data.rasters import open_raster

            self._open[r] = open_raster(self.paths[r])
        return self._open[r]

    def chip(self, raster: int, photo: int) -> torch.Tensor:
        """uint8 (3, chip, chip) chip of `raster` centred on `photo` (normalised per batch)."""
        key = (raster, photo)
        chip = self._chips.get(key)
        if chip is None:
            x, y = self.xy[raster][photo]
            window = self._raster(raster).read_centered(float(x), float(y), self.chip_size,
                                                              res=self.res)
            data = np.nan_to_num(np.asarray(window.data[:3], dtype=np.float32))
            if self.scale is not None:
                data = data * np.float32(self.scale[0]) + np.float32(self.scale[1])
            chip = torch.from_numpy(rgb_uint8(data, window.valid))
            self._chips[key] = chip
        return chip

    def close(self) -> None:
        for raster in self._open.values():
            close = getattr(raster, "close", None)
            if close:
                close()
        self._open = {}


@dataclass
class Sources:
    """Per-photo arrays (aligned with the layer's rows) the dataset draws from."""

    images: list[str]
    pairs: MinedPairs
    views: np.ndarray | None = None  # (N,2) view_yaw, view_fov (NaN: a whole photo)
    clusters: np.ndarray | None = None
    time: np.ndarray | None = None  # (N,4) float32
    overhead: OverheadChips | None = None


def usable_anchors(n: int, keys: set[str], pairs: MinedPairs) -> np.ndarray:
    """Photos that have a partner of every pair kind the keys need."""
    ok = np.ones(n, dtype=bool)
    for key, index in (("temporal", pairs.temporal), ("spatial", pairs.spatial)):
        if key in keys:
            if index is None:
                raise EngineError(f"batch key {key!r} needs {key} pairs, which were not mined",
                                  "this is a bug in the training set-up")
            ok &= index.counts() > 0
    return np.flatnonzero(ok)


class GeoPairDataset(Dataset):
    """Anchor photos -> dicts holding exactly `keys` (see BATCH_KEYS)."""

    def __init__(self, sources: Sources, keys: set[str], anchors: np.ndarray,
                 image_size: int, cache: ImageCache, seed: int) -> None:
        unknown = sorted(set(keys) - set(BATCH_KEYS))
        if unknown:
            raise EngineError(f"objectives require unknown batch key(s) {unknown}",
                              f"the dataset provides: {', '.join(BATCH_KEYS)}")
        self.sources, self.keys, self.anchors = sources, set(keys), anchors
        self.cache, self.seed, self.image_size = cache, seed, image_size
        self.augment = Augment()
        self.photo_features: torch.Tensor | None = None  # (N, V, D): the frozen regime
        self.chip_features: torch.Tensor | None = None

    def photos_needed(self) -> np.ndarray:
        """Rows of every photo an item can show: the anchors and their partners."""
        return photos_needed(self.anchors, self.keys, self.sources.pairs)

    def use_features(self, photo: torch.Tensor | None, chip: torch.Tensor | None) -> None:
        """Serve cached backbone features (N, V, D), a random view per draw, instead of
        pixels (the frozen regime); the decoded photos are then no longer needed."""
        self.photo_features, self.chip_features = photo, chip
        self.cache = ImageCache(self.cache.size, enabled=False)

    def features_device(self) -> torch.device | None:
        """Where the cached feature tables are (None: no tables, the regime decodes pixels)."""
        table = self.photo_features if self.photo_features is not None else self.chip_features
        return None if table is None else table.device

    def __len__(self) -> int:
        return int(self.anchors.shape[0])

    def __getitems__(self, keys: list[Any]) -> list[Any]:
        """A batch's items (the DataLoader's batched fetch): one pre-collated batch, drawn at
        once (engine.train.batch_draw)."""
        from engine.train.batch_draw import draw_batch

        return [draw_batch(self, keys)]

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, torch.Tensor]:
        """One item ((epoch, index) or index): the batch of that key alone. Images as uint8
        plus "<key>.aug" numbers; `prepare_batch` turns them into floats."""
        from engine.train.batch_draw import draw_batch

        return {k: v[0] for k, v in draw_batch(self, [key]).items()}


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device` without making the host wait for the GPU's queued work: a CPU
    tensor bound for a GPU is staged in pinned memory first (unless it already is, as a
    DataLoader's pinned batches are), since a copy from pageable memory may wait for the
    stream (CUDA runtime API, "API synchronization behavior")."""
    if device.type == "cuda" and tensor.device.type == "cpu" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def prepare_batch(batch: dict[str, torch.Tensor], device: torch.device, image_size: int
                  ) -> dict[str, torch.Tensor]:
    """Collated items -> the model's batch on `device`: photos augmented and normalised,
    overhead chips normalised, "<key>.aug" entries consumed (exactly the required keys left);
    cached backbone features (B, D) (the frozen regime) pass as they are."""
    moved = {k: to_device(v, device) for k, v in batch.items()}
    out = {}
    for key, value in moved.items():
        if key.endswith(AUG):
            continue
        if key in (*IMAGE_KEYS, "overhead") and value.ndim == 2:  # frozen: cached features
            out[key] = value
        elif key in IMAGE_KEYS and key + AUG not in moved:  # raster chips: float, augmented
            out[key] = value
        elif key in IMAGE_KEYS:
            out[key] = augment_batch(value, moved[key + AUG], image_size)
        elif key == "overhead":
            out[key] = normalize_uint8(value)
        else:
            out[key] = value
    return out


def photos_needed(anchors: np.ndarray, keys: set[str], pairs: MinedPairs) -> np.ndarray:
    """The anchors and every temporal/spatial partner of theirs the keys can draw."""
    needed = [anchors]
    for key, index in (("temporal", pairs.temporal), ("spatial", pairs.spatial)):
        if key in keys and index is not None:
            rows = np.repeat(np.arange(index.n_photos), index.counts())
            needed.append(index.indices[np.isin(rows, anchors)])
    return np.unique(np.concatenate(needed))
