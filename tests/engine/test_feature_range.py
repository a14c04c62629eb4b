"""A ridge head clips each feature to its training range: a channel the training rows hardly
varied in cannot blow a prediction up (the benchmark's city 1 predicted 1.85 million
people/km² before), and rows inside the range predict as before."""

from __future__ import annotations

import numpy as np

from engine.heads.cv import cross_validate
from engine.heads.fit import fit_head
from engine.heads.head import Head
from engine.heads.io import load_head, save_head
from engine.heads.ridge_path import RidgePath, block_cv_predict
from engine.heads.spatial_cv import spatial_folds


def _near_constant(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, xy): y depends on columns 0-2; column 3 is ~constant (sd 1e-7) over the rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    X[:, 3] = 5.0 + rng.normal(size=n) * 1e-7
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=n) * 0.3
    xy = rng.uniform(0, 2000, (n, 2))
    return X, y, xy


def _far_row(X: np.ndarray) -> np.ndarray:
    """A new row, typical on every column but 0.01 away on the near-constant one (|z| ~ 1e5)."""
    row = X.mean(axis=0, keepdims=True)
    row[0, 3] += 0.01
    return row


def _without_clip(head: Head) -> Head:
    """The same head without its training range: what a head saved before the clip predicts."""
    arrays = {k: v for k, v in head.arrays.items() if k not in ("clip_lo", "clip_hi")}
    return Head(head.kind, head.task, arrays, head.meta)


def test_a_near_constant_channel_cannot_blow_a_prediction_up(tmp_path) -> None:
    X, y, _ = _near_constant()
    lo, hi = y.min(), y.max()
    head = fit_head(X, y, head="ridge")
    pred = head.predict(_far_row(X))[0]
    assert lo <= pred <= hi
    unclipped = _without_clip(head)
    assert abs(unclipped.predict(_far_row(X))[0]) > 10 * (hi - lo)
    st, _ = save_head(head, tmp_path / "h")
    assert load_head(st).predict(_far_row(X))[0] == pred
    # the uncertainty still grows beyond the training range, from the unclipped distance
    _, unc_far = head.predict_with_uncertainty(_far_row(X))
    _, unc_mid = head.predict_with_uncertainty(X.mean(axis=0, keepdims=True))
    assert unc_far[0] > unc_mid[0]


def test_rows_inside_the_training_range_predict_as_before() -> None:
    X, y, _ = _near_constant(seed=1)
    head = fit_head(X, y, head="ridge")
    unclipped = _without_clip(head)
    np.testing.assert_array_equal(head.predict(X), unclipped.predict(X))


def test_the_benchmark_path_and_fits_cv_both_clip() -> None:
    X, y, xy = _near_constant(seed=2)
    folds = spatial_folds(xy, 500.0, 4, 0)
    X = X.copy()
    X[folds == 0, 3] += 0.01  # one fold lies far out on the near-constant channel
    bound = 3 * np.abs(y).max()
    path = RidgePath(X[folds != 0]).fit(y[folds != 0])
    assert np.abs(path.predict(X[folds == 0])).max() <= bound
    assert np.abs(block_cv_predict(X, y, folds)[:, 0]).max() <= bound
    rep = cross_validate(X, y, xy, "ridge", block_size_m=500.0, n_folds=4, seed=0)
    assert np.abs(rep.oof_pred).max() <= bound
