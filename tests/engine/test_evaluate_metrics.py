"""Benchmark metrics against toy cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.evaluate import metrics
from engine.evaluate.baselines import pixel_features


def _vpr_case() -> dict:
    # database: d0 at the query q0's spot (heading 0), d1 beside q1, d2 far away,
    # d3 within 5 m of q0 but looking the other way (heading 180).
    return dict(
        db_emb=np.array([[1, 0], [0, 1], [0.7, 0.7], [1, 0.1]], np.float32),
        db_xy=np.array([[0, 0], [100, 0], [0, 100], [0, 5]], np.float64),
        db_heading=np.array([0.0, 0.0, 0.0, 180.0]),
        # q0 looks most like d3 (wrong heading), then d0 (its match): hit at rank 2.
        # q1 looks exactly like d1 (its match): hit at rank 1. q2 has no match: left out.
        query_emb=np.array([[1, 0.1], [0, 1], [1, 1]], np.float32),
        query_xy=np.array([[0, 0], [100, 3], [500, 500]], np.float64),
        query_heading=np.array([10.0, 0.0, 0.0]),
    )


def test_recall_at_k_hand_computed() -> None:
    c = _vpr_case()
    res = metrics.recall_at_k(c["query_emb"], c["db_emb"], c["query_xy"], c["db_xy"],
                              c["query_heading"], c["db_heading"], ks=(1, 2, 4))
    assert res["n_queries"] == 2
    assert res["R@1"] == pytest.approx(0.5)
    assert res["R@2"] == pytest.approx(1.0)
    assert res["R@4"] == pytest.approx(1.0)


def test_recall_at_k_without_headings_accepts_any_direction() -> None:
    c = _vpr_case()
    res = metrics.recall_at_k(c["query_emb"], c["db_emb"], c["query_xy"], c["db_xy"], ks=(1,))
    assert res["R@1"] == pytest.approx(1.0)  # d3 (5 m away) now counts for q0
    nan_heading = np.array([np.nan, 0.0, 0.0, np.nan])
    res = metrics.recall_at_k(c["query_emb"], c["db_emb"], c["query_xy"], c["db_xy"],
                              c["query_heading"], nan_heading, ks=(1,))
    assert res["R@1"] == pytest.approx(1.0)  # unknown headings are accepted


def test_heading_difference_wraps() -> None:
    assert metrics.heading_difference(np.array([350.0]), np.array([10.0]))[0] == 20.0
    assert metrics.heading_difference(np.array([0.0]), np.array([180.0]))[0] == 180.0


def test_cross_view_ranks_and_median() -> None:
    ground = np.array([[1, 0], [0, 1], [1, 1]], np.float32)
    overhead = np.array([[1, 0], [1, 1], [0, 1]], np.float32)
    # g0 -> o0 best (rank 1); g1: o2 (1.0) beats its o1 (0.707): rank 2;
    # g2: o1 (1.0) beats it, o0 ties it (0.707): rank 3 (ties counted against).
    ranks = metrics.match_ranks(ground, overhead)
    assert ranks.tolist() == [1, 2, 3]
    res = metrics.cross_view_retrieval(ground, overhead, ks=(1, 5))
    assert res["g2o_median_rank"] == 2.0
    assert res["g2o_R@1"] == pytest.approx(1 / 3)
    assert res["g2o_R@5"] == 1.0
    assert "o2g_median_rank" in res


def test_r2_spearman_pearson_rmse() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert metrics.r2(y, np.array([1.0, 2.0, 3.0, 5.0])) == pytest.approx(1 - 1 / 5)
    assert metrics.r2(y, y) == 1.0
    assert math.isnan(metrics.r2(np.ones(3), np.arange(3.0)))
    assert metrics.spearman(y, np.array([10.0, 20.0, 30.0, 1000.0])) == pytest.approx(1.0)
    assert metrics.spearman(y, -y) == pytest.approx(-1.0)
    assert metrics.pearson(y, 2 * y + 1) == pytest.approx(1.0)
    assert metrics.rmse(np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(
        math.sqrt(12.5))


def test_pairwise_accuracy_tiny_ranking() -> None:
    truth = np.array([1.0, 2.0, 3.0])
    pred = np.array([1.0, 3.0, 2.0])  # pairs (0,1), (0,2) agree; (1,2) is swapped: 2/3
    acc = metrics.pairwise_accuracy(truth, pred, n_pairs=20000, seed=3)
    assert acc == pytest.approx(2 / 3, abs=0.02)
    assert acc == metrics.pairwise_accuracy(truth, pred, n_pairs=20000, seed=3)  # seeded
    assert metrics.pairwise_accuracy(truth, truth, 500, 0) == 1.0
    assert metrics.pairwise_accuracy(truth, -truth, 500, 0) == 0.0


def test_pixel_features_of_flat_images() -> None:
    white = np.full((1, 4, 4, 3), 255, np.uint8)
    black = np.zeros((1, 4, 4, 3), np.uint8)
    f = pixel_features(np.concatenate([white, black]))
    assert f.shape == (2, 30)
    assert f[0, :3].tolist() == [1.0, 1.0, 1.0] and f[0, 3:6].tolist() == [0.0, 0.0, 0.0]
    hist_white = f[0, 6:].reshape(3, 8)
    assert hist_white[:, -1].tolist() == [1.0, 1.0, 1.0] and hist_white[:, :-1].sum() == 0
    assert f[1, 6:].reshape(3, 8)[:, 0].tolist() == [1.0, 1.0, 1.0]
