"""Spatial block folds and cross-validation: disjoint blocks, in-fold transforms, honest scores."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from engine.errors import EngineError
from engine.heads.cv import cross_validate
from engine.heads.metrics import (
    METRIC_RANGE,
    classification_metrics,
    regression_metrics,
    t_interval,
)
from engine.heads.pipeline import HeadConfig, build_pipeline
from engine.heads.spatial_cv import spatial_blocks, spatial_folds


def _grid_points(n: int, extent: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, extent, size=(n, 2)) + np.array([500_000.0, 4_000_000.0])


def test_blocks_are_square_cells() -> None:
    xy = np.array([[0.0, 0.0], [99.0, 99.0], [101.0, 0.0], [0.0, 150.0], [250.0, 250.0]])
    b = spatial_blocks(xy, 100.0)
    assert b[0] == b[1]
    assert len({b[0], b[2], b[3], b[4]}) == 4
    assert b.dtype == np.int64 and b.min() == 0 and b.max() == 3


def test_folds_keep_blocks_whole_and_are_non_empty() -> None:
    xy = _grid_points(400, 2000.0, 0)
    blocks = spatial_blocks(xy, 250.0)
    folds = spatial_folds(xy, 250.0, n_folds=5, seed=1)
    assert set(np.unique(folds)) == set(range(5))
    for b in np.unique(blocks):
        assert len(np.unique(folds[blocks == b])) == 1  # no block in two folds
    for f in range(5):  # test rows' blocks never appear among the training rows
        assert not set(blocks[folds == f]) & set(blocks[folds != f])
    counts = np.bincount(folds)
    assert counts.max() - counts.min() < 0.5 * counts.mean()  # roughly balanced


def test_folds_are_seeded() -> None:
    xy = _grid_points(300, 2000.0, 2)
    a = spatial_folds(xy, 250.0, 4, seed=7)
    assert np.array_equal(a, spatial_folds(xy, 250.0, 4, seed=7))
    assert not np.array_equal(a, spatial_folds(xy, 250.0, 4, seed=8))


def test_groups_never_split() -> None:
    xy = _grid_points(200, 1000.0, 3)
    groups = np.arange(200) // 4  # 4 rows per group, scattered over different blocks
    folds = spatial_folds(xy, 200.0, 3, seed=0, groups=groups)
    for g in np.unique(groups):
        assert len(np.unique(folds[groups == g])) == 1


def test_too_few_blocks_is_a_clear_error() -> None:
    xy = _grid_points(50, 100.0, 4)
    with pytest.raises(EngineError, match="fewer than the 5 folds"):
        spatial_folds(xy, 1000.0, 5, seed=0)


class RecordRows(BaseEstimator, TransformerMixin):
    """A pass-through transform that logs which rows it was fitted on."""

    def __init__(self, log: list | None = None) -> None:
        self.log = log

    def fit(self, X, y=None):
        self.log.append(np.asarray(X).copy())
        return self

    def transform(self, X):
        return X


def test_transforms_are_fitted_on_training_rows_only() -> None:
    rng = np.random.default_rng(0)
    xy = _grid_points(240, 2000.0, 5)
    X = rng.normal(size=(240, 6))
    y = X[:, 0] + 0.1 * rng.normal(size=240)
    seen: list[np.ndarray] = []
    cfg = HeadConfig(head="ridge", pca_components=4)

    def factory() -> Pipeline:
        return Pipeline([("record", RecordRows(seen)),
                         *build_pipeline(cfg, "regression", 200, 6).steps])

    rep = cross_validate(X, y, xy, block_size_m=400.0, n_folds=4, seed=0,
                         config=cfg, pipeline_factory=factory)
    assert len(seen) == 4  # one fresh pipeline per fold
    for f, fitted_on in enumerate(seen):
        test_rows = X[rep.folds == f]
        train_rows = X[rep.folds != f]
        assert len(fitted_on) == len(train_rows)
        assert np.array_equal(fitted_on, train_rows)
        hits = (fitted_on[:, None, :] == test_rows[None, :, :]).all(axis=2)
        assert not hits.any()


def test_cv_r2_high_on_signal_and_not_on_noise() -> None:
    rng = np.random.default_rng(1)
    xy = _grid_points(300, 3000.0, 6)
    X = rng.normal(size=(300, 8))
    signal = X @ rng.normal(size=8) + 0.2 * rng.normal(size=300)
    noise = rng.normal(size=300)
    good = cross_validate(X, signal, xy, head="ridge", block_size_m=500.0, n_folds=5, seed=0)
    bad = cross_validate(X, noise, xy, head="ridge", block_size_m=500.0, n_folds=5, seed=0)
    assert good.mean["r2"] > 0.9 and good.mean["spearman"] > 0.9
    assert bad.mean["r2"] < 0.05
    assert good.ci95["r2"][0] <= good.mean["r2"] <= good.ci95["r2"][1]
    assert good.oof_pred.shape == (300,) and good.residual_sd < 0.5
    knn = cross_validate(X[:, :2], X[:, 0] ** 2, xy, head="knn", block_size_m=500.0,
                         n_folds=5, seed=0)
    assert knn.task == "regression" and knn.mean["r2"] > 0.6


def test_cv_classification_reports_accuracy_and_f1() -> None:
    rng = np.random.default_rng(2)
    xy = _grid_points(240, 2000.0, 7)
    X = rng.normal(size=(240, 4))
    y = np.where(X[:, 0] > 0, "green", "grey")
    for head in ("logistic", "knn"):
        rep = cross_validate(X, y, xy, head=head, block_size_m=400.0, n_folds=4, seed=0)
        assert rep.task == "classification"
        assert set(rep.mean) == {"accuracy", "macro_f1"}
        assert rep.mean["accuracy"] > 0.85
        assert set(np.unique(rep.oof_pred)) <= {"green", "grey"}


def test_metrics_equal_hand_computation() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 3.0, 2.0, 4.0])
    m = regression_metrics(y, p)
    # SS_res = 0+1+1+0 = 2; SS_tot = 2.25+0.25+0.25+2.25 = 5 -> R2 = 0.6
    assert m["r2"] == pytest.approx(0.6)
    assert m["mae"] == pytest.approx(0.5)
    # ranks [1,2,3,4] vs [1,3,2,4]: d^2 = 2 -> rho = 1 - 6*2/(4*15) = 0.8
    assert m["spearman"] == pytest.approx(0.8)
    c = classification_metrics(np.array(["a", "a", "b", "c"]), np.array(["a", "b", "b", "c"]))
    assert c["accuracy"] == pytest.approx(0.75)
    # F1: a = 2*1/(2+0+1) = 2/3; b = 2*1/(2+1+0) = 2/3; c = 1 -> mean 7/9
    assert c["macro_f1"] == pytest.approx(7 / 9)
    lo, hi = t_interval([0.5, 0.7, 0.6])
    # mean 0.6, sd 0.1, t(0.975, 2) = 4.302653 -> half width 0.248414
    assert lo == pytest.approx(0.6 - 0.2484138, abs=1e-6)
    assert hi == pytest.approx(0.6 + 0.2484138, abs=1e-6)
    # cut to what the metric can take: a Spearman interval never passes 1, an MAE one 0
    assert t_interval([0.5, 0.9, 0.95], bounds=METRIC_RANGE["spearman"])[1] == 1.0
    assert t_interval([1.0, 100.0, 5.0], bounds=METRIC_RANGE["mae"])[0] == 0.0


def test_bad_inputs_name_the_row() -> None:
    xy = _grid_points(20, 1000.0, 8)
    X = np.zeros((20, 3))
    y = np.arange(20, dtype=float)
    y[7] = np.nan
    with pytest.raises(EngineError, match="row 7"):
        cross_validate(X, y, xy, block_size_m=100.0, n_folds=2)
    with pytest.raises(EngineError, match="unknown head"):
        cross_validate(X, np.arange(20.0), xy, head="forest", block_size_m=100.0, n_folds=2)
