"""The heads' k-NN (faiss candidates, float64 re-rank) equals an exact brute-force search,
ties broken by training row, so predictions and uncertainties do not depend on the library."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import EngineError
from engine.heads.head import nearest


def brute_force(z: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d2 = ((z[:, None, :] - train[None]) ** 2).sum(axis=2)
    rows = np.broadcast_to(np.arange(len(train)), d2.shape)
    order = np.lexsort((rows, d2), axis=1)[:, :k]
    return order, np.sqrt(np.take_along_axis(d2, order, axis=1))


@pytest.mark.parametrize("n, dim, k", [(400, 16, 10), (60, 8, 60), (300, 3, 1)])
def test_nearest_matches_brute_force_with_ties(n: int, dim: int, k: int) -> None:
    rng = np.random.default_rng(n)
    train = rng.normal(size=(n, dim))
    train[1] = train[0]  # an exact tie: the lower row comes first
    z = np.vstack([rng.normal(size=(2500, dim)), train[:3]])  # > one chunk; self-queries
    idx, dist = nearest(z, train, k)
    ref_idx, ref_dist = brute_force(z, train, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(dist, ref_dist, rtol=0, atol=1e-12)
    assert idx[-3, 0] == 0 and (k == 1 or idx[-3, 1] == 1)


def test_more_neighbours_than_rows_is_an_error() -> None:
    with pytest.raises(EngineError, match="11 neighbours asked of 10"):
        nearest(np.zeros((1, 2)), np.zeros((10, 2)), 11)
