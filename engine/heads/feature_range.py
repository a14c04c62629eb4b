"""Ridge heads clip each feature to the range of their training rows before predicting.

A ridge head extrapolates along any direction its training rows hardly varied in. Measured on
the benchmark's city 1 (frozen ImageNet features of overhead chips, tract density): in one fold
a channel had a training sd of 5.9e-7, a held-out tract standardised to |z| = 31,819 on it, and
was predicted at 1.85 million people/km² (truth 16,158). Clipping every feature to
[min, max] of the training rows bounds each standardised value by the training rows' own.
Rows inside the training range predict exactly as before.

The same rule holds wherever a ridge head predicts: the benchmark's RidgePath, `fit`'s
cross-validation, and a saved head (arrays `clip_lo`, `clip_hi`; a head saved without them
predicts unclipped, as it did).
"""

from __future__ import annotations

import numpy as np

CLIPPED_HEADS: tuple[str, ...] = ("ridge",)


def feature_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-column minimum, per-column maximum) of the training rows, float64."""
    X = np.asarray(X, np.float64)
    return X.min(axis=0), X.max(axis=0)


def clip_features(X: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """X (float64) with every column clipped to [lo, hi]."""
    return np.clip(np.asarray(X, np.float64), lo, hi)

