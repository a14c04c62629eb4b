"""Extrapolation guards: predictions beyond the training targets, features beyond the training
features.

* Map side: a regression head stores its training target range (`meta["y_range"]`); a
  prediction below lo - MARGIN x (hi - lo) or above hi + MARGIN x (hi - lo) is flagged (the map's
  `flag` band) and, with `--clip`, clipped to [lo, hi]. A ridge head clips each row to
  its training rows' range in their design's eigenbasis before predicting
  (engine.heads.feature_range), which bounds its predictions; a row is still flagged when its
  unclipped features would have predicted beyond the margin (Head.extrapolation_flag).
* CV side: a fold whose test features lie mostly outside its training features (farther from
  the training centroid, in training-standardised units, than FAR_QUANTILE of the training
  rows) is reported as far out: its score measures extrapolation, not interpolation.
"""

from __future__ import annotations

import numpy as np

MARGIN = 0.1          # of the training target range
FAR_QUANTILE = 0.99   # training rows' distance quantile that bounds "inside"
FAR_OUT_SHARE = 0.5   # a fold is far out when more than this share of its test rows is


def far_out_share(X_train: np.ndarray, X_test: np.ndarray) -> float:
    """Share of test rows farther from the training centroid than FAR_QUANTILE of training
    rows (features standardised by the training rows)."""
    X_train = np.asarray(X_train, dtype=np.float64)
    mean = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    sd[sd < 1e-12] = 1.0
    d_train = np.linalg.norm((X_train - mean) / sd, axis=1)
    d_test = np.linalg.norm((np.asarray(X_test, dtype=np.float64) - mean) / sd, axis=1)
    bound = float(np.quantile(d_train, FAR_QUANTILE)) if len(d_train) else 0.0
    return float((d_test > bound).mean()) if len(d_test) else 0.0


def out_of_range(pred: np.ndarray, y_range: tuple[float, float] | list[float] | None,
                 margin: float = MARGIN) -> np.ndarray:
    """1.0 where a prediction lies beyond the training range by more than the margin, else 0."""
    pred = np.asarray(pred, dtype=np.float64)
    if not y_range:
        return np.zeros(pred.shape)
    lo, hi = float(y_range[0]), float(y_range[1])
    m = margin * max(hi - lo, 1e-12)
    return ((pred < lo - m) | (pred > hi + m)).astype(np.float64)


def clip_to_range(pred: np.ndarray, y_range: tuple[float, float] | list[float] | None
                  ) -> np.ndarray:
    """Predictions clipped to the training target range (unchanged without one)."""
    if not y_range:
        return np.asarray(pred, dtype=np.float64)
    return np.clip(np.asarray(pred, dtype=np.float64), float(y_range[0]), float(y_range[1]))
