"""MOSAIKS random convolutional features: deterministic per seed, fixed filters once drawn,
and informative: on chips whose vegetation share sets the label, a ridge head on MOSAIKS
features predicts it far better than chance."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import EngineError
from engine.evaluate.mosaiks import MosaiksEmbedder


def _chips(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Chips mixing grey 'roof' blocks and textured green 'tree' blobs; label = green share."""
    rng = np.random.default_rng(seed)
    chips = np.zeros((n, 3, 32, 32), np.uint8)
    share = rng.uniform(0, 1, n)
    for i in range(n):
        green = rng.uniform(0, 1, (32, 32)) < share[i]
        noise = rng.integers(0, 40, (32, 32))
        chips[i, 0] = np.where(green, 40 + noise, 150 + noise)
        chips[i, 1] = np.where(green, 120 + noise, 150 + noise)
        chips[i, 2] = np.where(green, 40 + noise, 150 + noise)
    return chips, share


def test_features_are_deterministic_and_filters_fixed():
    chips, _ = _chips(20)
    a = MosaiksEmbedder(num_filters=16, seed=3).embed_chips(chips)
    emb = MosaiksEmbedder(num_filters=16, seed=3)
    b = emb.embed_chips(chips)
    assert a.shape == (20, 32) and a.dtype == np.float32 and np.array_equal(a, b)
    other, _ = _chips(5, seed=9)
    np.testing.assert_array_equal(emb.embed_chips(chips[:4]), b[:4])  # filters kept
    assert emb.embed_chips(other).shape == (5, 32)
    assert not np.array_equal(MosaiksEmbedder(num_filters=16, seed=4).embed_chips(chips), a)
    with pytest.raises(EngineError, match="uint8"):
        emb.embed_chips(chips.astype(np.float32))


def test_features_predict_what_the_chips_show():
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_score

    chips, share = _chips(160)
    X = MosaiksEmbedder(num_filters=64).embed_chips(chips)
    r2 = cross_val_score(RidgeCV(alphas=np.logspace(-3, 3, 7)), X, share, cv=4,
                         scoring="r2").mean()
    assert r2 > 0.8, r2
