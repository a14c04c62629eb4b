"""A ridge head clips each row to its training rows' range in their design's eigenbasis: a
channel the training rows hardly varied in cannot blow a prediction up (the benchmark's city 1
predicted 1.85 million people/km² before), correlated features keep their cancelling
coefficients (the per-feature clip broke them), rows inside the range predict as before, and a
head saved with the per-feature clip keeps it. The tests run under each rule
`feature_range.CLIP_RULE` may name ("per_feature", "eigenbasis", "per_feature_then_eigenbasis")."""

from __future__ import annotations

import numpy as np
import pytest

from engine.heads import feature_range as clip_rules
from engine.heads.cv import cross_validate
from engine.heads.feature_range import CLIP_ARRAYS, clip_features, feature_range
from engine.heads.fit import fit_head
from engine.heads.fused_head import stacked_head, stacked_predict
from engine.heads.head import Head
from engine.heads.io import load_head, save_head
from engine.heads.ridge_path import RidgePath, block_cv_predict
from engine.heads.spatial_cv import spatial_folds


@pytest.fixture(params=clip_rules.CLIP_RULES)
def rule(request, monkeypatch) -> str:
    """Each clip rule in turn, as the engine's one switch."""
    monkeypatch.setattr(clip_rules, "CLIP_RULE", request.param)
    return request.param


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
    arrays = {k: v for k, v in head.arrays.items() if k not in CLIP_ARRAYS}
    return Head(head.kind, head.task, arrays, head.meta)


def test_a_near_constant_channel_cannot_blow_a_prediction_up(tmp_path, rule) -> None:
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


def _per_feature(head: Head, X: np.ndarray) -> Head:
    """The same head with the first rule's arrays: raw-space clip_lo, clip_hi of X only."""
    lo, hi = feature_range(X)
    return Head(head.kind, head.task, {**_without_clip(head).arrays, "clip_lo": lo,
                                       "clip_hi": hi}, head.meta)


def _correlated(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): six features that follow one latent t (sd 1) up to noise (sd 0.1); y is
    10 (x0 - x1), a low-variance direction that ridge reaches by cancelling coefficients."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 1)) + 0.1 * rng.normal(size=(n, 6))
    return X, 10.0 * (X[:, 0] - X[:, 1])


def _far_on_the_manifold(n: int = 50, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """New rows of _correlated far out along the latent (t = 6) but typical across it."""
    rng = np.random.default_rng(seed)
    X = 6.0 + 0.1 * rng.normal(size=(n, 6))
    return X, 10.0 * (X[:, 0] - X[:, 1])


def test_correlated_features_keep_their_cancelling_coefficients(rule, tmp_path) -> None:
    """Only the eigenbasis rule keeps them: "per_feature_then_eigenbasis" clips each feature
    first, which drops what tells the far rows apart, as the per-feature rule does."""
    X, y = _correlated()
    Xn, yn = _far_on_the_manifold()
    sd = yn.std()
    head = fit_head(X, y, head="ridge")
    rmse = np.sqrt(np.mean((head.predict(Xn) - yn) ** 2))
    old = np.sqrt(np.mean((_per_feature(head, X).predict(Xn) - yn) ** 2))
    path = RidgePath(X).fit(y)
    rmse_path = np.sqrt(np.mean((path.predict(Xn)[:, 0] - yn) ** 2))
    assert old > 0.9 * sd  # clipping each feature drops what tells the rows apart
    if rule == "eigenbasis":
        assert rmse < 0.25 * sd and rmse_path < 0.25 * sd
    else:
        assert rmse > 0.9 * sd and rmse_path > 0.9 * sd
    st, _ = save_head(head, tmp_path / "h")
    np.testing.assert_array_equal(load_head(st).predict(Xn), head.predict(Xn))


def test_the_rule_after_the_per_feature_step_bounds_a_row_off_the_manifold(rule) -> None:
    """A row inside every feature's range but across the correlated features' manifold: the
    per-feature clip leaves it, the rules with the eigenbasis step move it onto the box."""
    X, y = _correlated(seed=5)
    row = np.zeros((1, 6))
    row[0, 0], row[0, 1] = 0.9 * X[:, 0].max(), 0.9 * X[:, 1].min()
    head = fit_head(X, y, head="ridge")
    unclipped = _without_clip(head).predict(row)[0]
    pred = head.predict(row)[0]
    if rule == "per_feature":
        assert pred == unclipped
    else:
        assert abs(pred) < 0.5 * abs(unclipped)
        np.testing.assert_allclose(RidgePath(X).fit(y).predict(row)[0, 0], pred, rtol=1e-6)


def test_rows_inside_the_training_range_predict_as_before(rule) -> None:
    X, y, _ = _near_constant(seed=1)
    head = fit_head(X, y, head="ridge")
    unclipped = _without_clip(head)
    np.testing.assert_array_equal(head.predict(X), unclipped.predict(X))
    inside = 0.5 * (X[:40] + X.mean(axis=0))  # halfway to the mean: inside on every axis
    np.testing.assert_array_equal(head.predict(inside), unclipped.predict(inside))
    path = RidgePath(X).fit(y)
    raw = ((inside - path.mean) * path.gain - path.offset) @ path.coef + path.intercept
    np.testing.assert_array_equal(path.predict(inside), raw)


def test_a_head_saved_with_the_per_feature_clip_keeps_it(tmp_path) -> None:
    X, y = _correlated(seed=3)
    Xn, _ = _far_on_the_manifold()
    old = _per_feature(fit_head(X, y, head="ridge"), X)
    want = _without_clip(old).predict(clip_features(Xn, *feature_range(X)))
    np.testing.assert_array_equal(old.predict(Xn), want)
    st, _ = save_head(old, tmp_path / "old")
    np.testing.assert_array_equal(load_head(st).predict(Xn), want)


def test_a_fused_head_clips_each_view_as_its_ridge_does(rule) -> None:
    rng = np.random.default_rng(4)
    X, y = _correlated(n=120, seed=4)
    X = np.concatenate([X, rng.normal(size=(120, 5))], axis=1)  # ground 6, overhead 5
    folds = np.arange(120) % 4
    Xn = np.concatenate([_far_on_the_manifold(20)[0], 5 * rng.normal(size=(20, 5))], axis=1)
    np.testing.assert_allclose(stacked_head(X, y, 6, folds).predict(Xn),
                               stacked_predict(X, y, 6, folds, Xn), rtol=1e-9, atol=1e-9)


def test_the_benchmark_path_and_fits_cv_both_clip(rule) -> None:
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
