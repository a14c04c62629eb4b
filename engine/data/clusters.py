"""Geo pretext labels: k-means clusters of photo locations (GeoSSL), seeded and deterministic."""

from __future__ import annotations

import logging

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


def location_clusters(xy: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K-means on x,y metres -> (labels (N,) int64, centres (k,2) float64 in the same CRS).

    k is capped at the number of distinct locations; the same xy and seed give the same labels.
    """
    from sklearn.cluster import KMeans

    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] == 0:
        raise EngineError(f"k-means needs an (N,2) array of x,y, got shape {xy.shape}",
                          "the street-view layer has no points")
    distinct = np.unique(xy, axis=0).shape[0]
    k_used = int(min(k, distinct))
    if k_used < 2:
        raise EngineError(f"k-means clusters need at least 2 distinct locations, found {distinct}",
                          "use a layer with photos at several places, or drop the geo pretext")
    if k_used < k:
        log.warning("only %d distinct locations: using %d clusters instead of %d",
                    distinct, k_used, k)
    km = KMeans(n_clusters=k_used, random_state=seed, n_init=4).fit(xy)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float64)
