"""Fusion heads (ground + overhead views): fitted on the training fold only, and on a target
that needs both views, each candidate head beats either view alone under spatial block CV."""

from __future__ import annotations

import numpy as np
import pytest

from engine.heads.fusion_heads import (
    CONTROLS,
    HEADS,
    fused_oof,
    inner_folds,
    stack_weights,
    stacked_oof,
    view_oof,
    view_parts,
)
from engine.heads.metrics import r2
from engine.heads.ridge_path import block_cv_predict
from engine.heads.spatial_cv import spatial_folds


def _views(n: int = 400, seed: int = 0):
    """Ground and overhead features of n points; y = a ground-only signal + an overhead-only
    signal (the overhead vector is shared by the points of a 100 m cell, as the grid's)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n, 2))
    cell = (xy[:, 0] // 100) * 10 + xy[:, 1] // 100
    cells = rng.normal(size=(100, 6))
    over = cells[cell.astype(int)] + rng.normal(0, 0.05, (n, 6))
    ground = rng.normal(size=(n, 8))
    y = ground[:, 0] + cells[cell.astype(int), 0] + rng.normal(0, 0.3, n)
    return ground, over, y[:, None], xy


def test_stack_weights_are_non_negative_with_a_free_intercept() -> None:
    rng = np.random.default_rng(3)
    P = rng.normal(size=(200, 2))
    y = 5.0 + 2.0 * P[:, 0] - 1.0 * P[:, 1]
    w, a = stack_weights(P, y)
    assert w[1] == 0.0 and w[0] == pytest.approx(2.0, abs=0.2)
    assert a == pytest.approx(5.0, abs=0.2)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_each_head_beats_either_view_alone_when_the_target_needs_both(head: str) -> None:
    ground, over, Y, xy = _views()
    fold = spatial_folds(xy, 250.0, 4, 0)
    alone = [r2(Y[:, 0], block_cv_predict(X, Y, fold)[:, 0]) for X in (ground, over)]
    fused = r2(Y[:, 0], fused_oof(HEADS[head], ground, over, Y, xy, fold, 250.0, 0)[:, 0])
    assert fused > max(alone) + 0.1, (head, fused, alone)


@pytest.mark.parametrize("head", sorted({**HEADS, **CONTROLS}))
def test_a_head_never_sees_the_labels_of_its_test_fold(head: str) -> None:
    ground, over, Y, xy = _views(200, seed=1)
    fold = spatial_folds(xy, 250.0, 4, 0)
    heads = {**HEADS, **CONTROLS}
    before = fused_oof(heads[head], ground, over, Y, xy, fold, 250.0, 0)
    Y2 = Y.copy()
    Y2[fold == 0] = 1e6  # the test fold's labels changed: its predictions must not move
    after = fused_oof(heads[head], ground, over, Y2, xy, fold, 250.0, 0)
    np.testing.assert_allclose(after[fold == 0], before[fold == 0])


def test_views_computed_apart_stack_exactly_as_the_heads_do() -> None:
    """view_parts computed once per view (the cache the benchmark keeps for the ground view)
    give the same out-of-fold predictions as `stack`, its control and the view's own ridge."""
    ground, over, Y, xy = _views(300, seed=2)
    groups = np.arange(len(xy)) // 2  # two photos per place, one fold
    fold = spatial_folds(xy, 250.0, 4, 0, groups=groups)
    folds = inner_folds(xy, fold, 250.0, 0, groups)
    pg, po = view_parts(ground, Y, folds), view_parts(over, Y, folds)
    for parts, head in (([pg, po], "stack"), ([pg], "stack_ground_only")):
        want = fused_oof({**HEADS, **CONTROLS}[head], ground, over, Y, xy, fold, 250.0, 0,
                         groups)
        np.testing.assert_allclose(stacked_oof(parts, Y, folds), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(view_oof(po, Y, folds), block_cv_predict(over, Y, fold),
                               rtol=1e-10, atol=1e-10)
