"""Heads that join the ground view and the overhead view (near/remote fusion), each fitted on a
training fold only: (ground, overhead, Y, training rows, inner folds) -> predictions of the test
rows. Candidates of the protocol's fusion-head selection (docs/BENCHMARK_PROTOCOL.md):

* `concat`: one ridge on both views side by side (alpha by leave-one-out);
* `view_penalty`: the same with the overhead block's penalty scaled (its standardised columns
  weighted by c in OVERHEAD_WEIGHTS, i.e. penalty alpha / c^2), c and alpha by leave-one-out;
* `stack`: each view's own ridge (the head of the view alone), combined by non-negative
  weights and an intercept fitted on the views' out-of-fold predictions over spatial blocks
  inside the training rows (stacked regression, Breiman 1996).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.heads.ridge_path import RidgePath, block_cv_predict

OVERHEAD_WEIGHTS: tuple[float, ...] = (0.25, 0.5, 1.0)


@dataclass
class Fold:
    """One training fold of a fusion head: views and targets of the training rows, the inner
    spatial folds over them, and the views of the test rows."""

    ground: np.ndarray       # (n, Dg)
    over: np.ndarray         # (n, Do)
    Y: np.ndarray            # (n, T)
    inner: np.ndarray        # (n,) inner fold id (spatial blocks of the training rows)
    ground_test: np.ndarray  # (m, Dg)
    over_test: np.ndarray    # (m, Do)


def concat(f: Fold) -> np.ndarray:
    """One ridge on [ground, overhead] (the former fusion head)."""
    X = np.concatenate([f.ground, f.over], axis=1)
    return RidgePath(X).fit(f.Y).predict(np.concatenate([f.ground_test, f.over_test], axis=1))


def view_penalty(f: Fold) -> np.ndarray:
    """One ridge on [ground, c x overhead]; per target, (c, alpha) of least leave-one-out
    error."""
    X = np.concatenate([f.ground, f.over], axis=1)
    Xt = np.concatenate([f.ground_test, f.over_test], axis=1)
    w = np.ones(X.shape[1])
    best_err = np.full(f.Y.shape[1], np.inf)
    pred = np.zeros((len(Xt), f.Y.shape[1]))
    for c in OVERHEAD_WEIGHTS:
        w[f.ground.shape[1]:] = c
        path = RidgePath(X, weights=w)
        errs, _ = path.loo_errors(f.Y - f.Y.mean(axis=0))
        err = (errs ** 2).mean(axis=1).min(axis=0)  # (T,) at each target's best alpha
        better = err < best_err
        if better.any():
            pred[:, better] = path.fit(f.Y).predict(Xt)[:, better]
            best_err[better] = err[better]
    return pred


def stack_weights(P: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """(non-negative weights (V,), intercept) of y ~ a + P w by least squares, a free."""
    from scipy.optimize import nnls

    pm, ym = P.mean(axis=0), float(y.mean())
    w, _ = nnls(P - pm, y - ym)
    return w, ym - float(pm @ w)


def combine(inner: np.ndarray, outer: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """(m, T) stacked predictions: per target, the views' test predictions `outer` (m, T, V)
    weighted by stack_weights fitted on their inner out-of-fold predictions (n, T, V)."""
    pred = np.empty(outer.shape[:2])
    for t in range(Y.shape[1]):
        w, a = stack_weights(inner[:, t, :], Y[:, t])
        pred[:, t] = a + outer[:, t, :] @ w
    return pred


def stacked(f: Fold, views: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Per-view ridges combined by stack_weights fitted on their inner out-of-fold
    predictions; `views` (0 ground, 1 overhead) picks which views enter."""
    train = (f.ground, f.over)
    test = (f.ground_test, f.over_test)
    inner = np.stack([block_cv_predict(train[v], f.Y, f.inner) for v in views], axis=2)
    outer = np.stack([RidgePath(train[v]).fit(f.Y).predict(test[v]) for v in views], axis=2)
    return combine(inner, outer, f.Y)


def stack(f: Fold) -> np.ndarray:
    """Stacked ground and overhead ridges (both views)."""
    return stacked(f, (0, 1))


def stack_ground_only(f: Fold) -> np.ndarray:
    """The control of `stack`: the ground ridge alone, recalibrated the same way (a + w p)."""
    return stacked(f, (0,))


FUSION_HEAD = "stack"  # the protocol's fusion head, chosen on city seed 3 (bench/fusion_select.py)

# candidate name -> head (protocol order); the control is not a candidate
HEADS: dict[str, Callable[[Fold], np.ndarray]] = {
    "concat": concat, "view_penalty": view_penalty, "stack": stack}
CONTROLS: dict[str, Callable[[Fold], np.ndarray]] = {"stack_ground_only": stack_ground_only}


def inner_folds(xy: np.ndarray, fold: np.ndarray, block_m: float, seed: int,
                groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per outer fold (in np.unique order): (its test mask, the inner spatial folds of its
    training rows: max(2, K - 1) for K outer folds, the same block side and groups)."""
    from engine.heads.spatial_cv import spatial_folds

    ids = np.unique(fold)
    n_inner = max(2, len(ids) - 1)
    out = []
    for f in ids:
        te = fold == f
        out.append((te, spatial_folds(xy[~te], block_m, n_inner, seed,
                                      groups=None if groups is None else groups[~te])))
    return out


ViewParts = list[tuple[np.ndarray, np.ndarray]]


def view_parts(X: np.ndarray, Y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
               ) -> ViewParts:
    """One view's share of `stack`, per outer fold of `folds` (inner_folds): its ridge's
    inner out-of-fold predictions of the training rows and its predictions of the test rows.
    A view's parts do not depend on the other view: computed once, they serve every pairing."""
    X = np.asarray(X, np.float64)
    parts = []
    for te, inner in folds:
        parts.append((block_cv_predict(X[~te], Y[~te], inner),
                      RidgePath(X[~te]).fit(Y[~te]).predict(X[te])))
    return parts


def stacked_oof(views: list[ViewParts], Y: np.ndarray,
                folds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(n, T) out-of-fold predictions of the views' ridges stacked (one view: its ridge
    recalibrated, the control); equal to fused_oof of `stack` / `stack_ground_only`."""
    oof = np.empty_like(Y)
    for i, (te, _) in enumerate(folds):
        inner = np.stack([v[i][0] for v in views], axis=2)
        outer = np.stack([v[i][1] for v in views], axis=2)
        oof[te] = combine(inner, outer, Y[~te])
    return oof


def view_oof(parts: ViewParts, Y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]]
             ) -> np.ndarray:
    """(n, T) the view's own ridge out of fold (its test predictions; = block_cv_predict)."""
    oof = np.empty_like(Y)
    for (te, _), (_, outer) in zip(folds, parts, strict=True):
        oof[te] = outer
    return oof


def fused_oof(head: Callable[[Fold], np.ndarray], ground: np.ndarray, over: np.ndarray,
              Y: np.ndarray, xy: np.ndarray, fold: np.ndarray, block_m: float, seed: int,
              groups: np.ndarray | None = None) -> np.ndarray:
    """(n, T) out-of-fold predictions of a fusion head: per outer fold, the head sees the
    training rows only, with inner spatial folds (max(2, K - 1) for K outer folds, the same
    block side and groups) drawn over them."""
    from engine.heads.spatial_cv import spatial_folds

    ids = np.unique(fold)
    n_inner = max(2, len(ids) - 1)
    Y = np.asarray(Y, np.float64).reshape(len(ground), -1)
    oof = np.empty_like(Y)
    for f in ids:
        te = fold == f
        tr = ~te
        inner = spatial_folds(xy[tr], block_m, n_inner, seed,
                              groups=None if groups is None else groups[tr])
        oof[te] = head(Fold(ground[tr], over[tr], Y[tr], inner, ground[te], over[te]))
    return oof
