"""Held-out places for the identity tasks (place recognition, cross-view retrieval): square
blocks of the city drawn with the city seed are held out; models train on the photos farther
than a buffer from every held-out photo, and the two tasks score held-out places only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


def heldout_mask(xy: np.ndarray, block_m: float, seed: int, share: float = 0.25) -> np.ndarray:
    """(N,) bool: the photos (x, y metres) in a seeded `share` of the square blocks (>= 1)."""
    from engine.heads.spatial_cv import spatial_blocks

    blocks = spatial_blocks(np.asarray(xy, np.float64), block_m)
    ids = np.unique(blocks)
    n = min(len(ids), max(1, int(round(share * len(ids)))))
    picked = np.random.default_rng(int(seed)).choice(ids, size=n, replace=False)
    return np.isin(blocks, picked)


def training_mask(xy: np.ndarray, heldout: np.ndarray, buffer_m: float) -> np.ndarray:
    """(N,) bool: photos outside the held-out set and farther than `buffer_m` from it."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, np.float64)
    if not heldout.any():
        return np.ones(len(xy), bool)
    dist, _ = cKDTree(xy[heldout]).query(xy, k=1)
    return ~heldout & (dist > float(buffer_m))


def write_training_layer(city: Path, keep: np.ndarray, out: Path) -> Path:
    """The city's street-view layer restricted to the rows `keep` (layer order), with absolute
    image paths, written (atomically, every run: it is cheap and never stale) to `out`."""
    import geopandas as gpd

    from engine.data.sample_city.writer import write_gpkg

    frame = gpd.read_file(Path(city) / "streetview.gpkg", layer="streetview")
    if len(frame) != len(keep):
        raise EngineError(f"{city / 'streetview.gpkg'} has {len(frame)} photos, the held-out "
                          f"mask {len(keep)}", "regenerate the city: delete WORK/cities/")
    sub = frame[np.asarray(keep, bool)].copy()
    sub["image"] = [str((Path(city) / p).resolve()) for p in sub["image"]]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_gpkg(out, sub, "streetview")
    log.info("training layer %s: %d of %d photos (held-out places and buffer left out)",
             out, len(sub), len(frame))
    return out
