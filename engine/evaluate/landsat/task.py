"""Few-shot land cover on frozen features: k labelled pixels per class, spatially disjoint
train and test pixels, logistic regression fitted on the shots only.

Folds: labelled pixels are grouped into connected labelled regions (a digitised training
polygon is never split), regions go to square spatial blocks by their mean position and
blocks to folds (engine.heads.spatial_cv). For each fold the shots come only from the other
folds' pixels whose chips do not overlap any test pixel's chip (a buffer of one chip width),
so no test pixel's neighbourhood is ever seen in training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FewShotSplit:
    """Fold id per labelled pixel and, per fold, the indices allowed as training shots."""

    folds: np.ndarray
    candidates: list[np.ndarray]


def labelled_regions(labels: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Connected-region id (8-neighbourhood, any class) of each labelled pixel (rows, cols)."""
    from scipy import ndimage

    regions, _ = ndimage.label(labels > 0, structure=np.ones((3, 3), dtype=bool))
    return regions[rows, cols].astype(np.int64)


def make_split(xy: np.ndarray, regions: np.ndarray, block_m: float, n_folds: int, seed: int,
               buffer_m: float) -> FewShotSplit:
    """Spatial block folds (regions kept whole) and each fold's buffered training pool."""
    from scipy.spatial import cKDTree

    from engine.heads.spatial_cv import spatial_folds

    folds = spatial_folds(xy, block_m, n_folds, seed, groups=regions)
    candidates = []
    for f in range(n_folds):
        test = folds == f
        others = np.flatnonzero(~test)
        # Chebyshev distance: chips of width buffer_m overlap when closer than buffer_m
        dist, _ = cKDTree(xy[test]).query(xy[others], p=np.inf)
        candidates.append(others[dist >= buffer_m])
    return FewShotSplit(folds=folds, candidates=candidates)


def sample_shots(y: np.ndarray, pool: np.ndarray, k: int, rng: np.random.Generator
                 ) -> tuple[np.ndarray, dict[int, int]]:
    """Up to k indices per class drawn from `pool` (all of a class's when it has fewer);
    returns the indices and the actual count per class of y (0 for a class absent there)."""
    chosen, counts = [], {}
    for c in np.unique(y):
        have = pool[y[pool] == c]
        take = rng.choice(have, size=min(int(k), len(have)), replace=False) if len(have) else have
        chosen.append(np.sort(take))
        counts[int(c)] = int(len(take))
    return np.concatenate(chosen).astype(np.int64), counts


def _classifier(seed: int) -> object:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000,
                                                              random_state=seed))


def few_shot_rows(features: np.ndarray, y: np.ndarray, split: FewShotSplit, ks: tuple[int, ...],
                  seed: int) -> list[dict]:
    """One row per k: pooled out-of-fold accuracy and macro-F1 over every labelled pixel.

    Shots are drawn from `seed`, the fold and k only, so every encoder sees the same shots.
    """
    from engine.heads.metrics import classification_metrics

    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or not np.isfinite(X).all():
        raise EngineError(f"Landsat features must be finite (N, D) rows, one per labelled pixel; "
                          f"got {X.shape} for {len(y)} pixels", "check the embedder's output")
    n_folds = len(split.candidates)
    rows = []
    for k in ks:
        pred = np.zeros_like(y)
        n_train, min_shots = [], []
        for f in range(n_folds):
            rng = np.random.default_rng([int(seed), f, int(k)])
            shots, counts = sample_shots(y, split.candidates[f], k, rng)
            test = split.folds == f
            n_train.append(len(shots))
            min_shots.append(min(counts.values()))
            if len(np.unique(y[shots])) < 2:
                raise EngineError(f"fold {f}: the training pool holds fewer than two classes",
                                  "use fewer folds or smaller blocks")
            model = _classifier(seed).fit(X[shots], y[shots])
            pred[test] = model.predict(X[test])
        m = classification_metrics(y, pred)
        rows.append({"task": "landsat", "target": f"k={k}", "accuracy": m["accuracy"],
                     "macro_f1": m["macro_f1"], "n": int(len(y)),
                     "train_pixels_mean": float(np.mean(n_train)),
                     "min_class_shots": int(min(min_shots))})
    return rows
