"""The benchmark's ridge path: one decomposition per design gives the fit of StandardScaler +
RidgeCV (alpha per target by leave-one-out) for every alpha and target, and the benchmark's
rows equal those of engine.heads.cross_validate on the same folds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluate.settings import Settings
from engine.evaluate.tasks import cv_rows
from engine.heads.cv import cross_validate
from engine.heads.feature_range import EigenClip
from engine.heads.ridge_path import RidgePath


def _data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, p) + rng.normal(size=p)
    X[:, 1] = 2.0  # a constant column (StandardScaler's zero-variance rule)
    Y = X[:, 2:6] @ rng.normal(size=(4, 3)) + rng.normal(size=(n, 3)) * 3
    return X, Y


@pytest.mark.parametrize("n, p", [(240, 30), (50, 120)])  # Z'Z ("cov") and Z Z' ("gram")
def test_the_path_fits_what_ridgecv_fits_for_every_target(n: int, p: int) -> None:
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, Y = _data(n + 40, p)
    path = RidgePath(X[:n]).fit(Y[:n])
    for t in range(Y.shape[1]):
        ref = make_pipeline(StandardScaler(), RidgeCV(alphas=path.alphas)).fit(X[:n], Y[:n, t])
        assert path.chosen_alphas[t] == ref[-1].alpha_
        inside = EigenClip.fit(X[:n])(X[n:])  # the path clips, sklearn not
        np.testing.assert_allclose(path.predict(X[n:])[:, t], ref.predict(inside), atol=1e-8)


def test_a_block_weight_is_a_block_penalty() -> None:
    X, Y = _data(200, 10, seed=1)
    w = np.ones(10)
    w[5:] = 0.0  # weight 0: the block cannot enter the fit
    with_block = RidgePath(X, weights=w).fit(Y[:, 0])
    without = RidgePath(X[:, :5]).fit(Y[:, 0])
    np.testing.assert_allclose(with_block.predict(X), without.predict(X[:, :5]), atol=1e-8)


def test_benchmark_rows_equal_cross_validate_on_the_same_folds() -> None:
    rng = np.random.default_rng(2)
    X, Y = _data(300, 20, seed=2)
    xy = rng.uniform(0, 1000, (300, 2))
    targets = {f"t{k}": Y[:, k] for k in range(3)}
    s = Settings()
    rows = cv_rows("perception", targets, X, xy, 250.0, 4, s)
    for row, y in zip(rows, targets.values(), strict=True):
        rep = cross_validate(X, y, xy, "ridge", block_size_m=250.0, n_folds=4, seed=s.seed)
        assert row["r2"] == pytest.approx(rep.mean["r2"], abs=1e-9)
        assert row["r2_pooled"] == pytest.approx(rep.pooled["r2"], abs=1e-9)
        assert row["n_fold_min"] == min(fs["test"] for fs in rep.fold_sizes)
