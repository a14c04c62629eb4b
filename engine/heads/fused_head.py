"""The stacked near/remote fusion head (engine.heads.fusion_heads.stack, the head the fusion
benchmark selected) for `fit --fuse-field`: spatial block CV, then the head fitted on all rows
and folded into one plain ridge `Head` on [ground, overhead].

Each view's ridge is linear in its own standardised columns and the stack adds them with
non-negative weights and an intercept, so the whole head is one linear map of the joined
vector: it is saved, loaded and applied as any ridge head (safetensors + JSON), and the
stacking itself is recorded in `meta["fusion"]`.
"""

from __future__ import annotations

import logging

import numpy as np

from engine.heads.cv import CVReport, check_xy_inputs, summarise
from engine.heads.extrapolation import far_out_share
from engine.heads.feature_range import EigenClip
from engine.heads.fit import distance_reference
from engine.heads.fusion_heads import FUSION_HEAD, Fold, fused_oof, stack, stack_weights
from engine.heads.head import Head
from engine.heads.metrics import regression_metrics
from engine.heads.pipeline import HeadConfig
from engine.heads.ridge_path import RidgePath, block_cv_predict
from engine.heads.spatial_cv import spatial_folds
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def stacked_cv(X: np.ndarray, y: np.ndarray, xy: np.ndarray, ground_dim: int,
               block_size_m: float, n_folds: int, seed: int = 0,
               groups: np.ndarray | None = None, progress: Progress = no_progress) -> CVReport:
    """Spatial block CV of the stacked head on X = [ground (ground_dim), overhead]: the same
    outer folds as engine.heads.cv.cross_validate, inner folds drawn inside each training
    fold (fusion_heads.fused_oof)."""
    X, y = check_xy_inputs(X, y)
    y = y.astype(np.float64)
    folds = spatial_folds(xy, block_size_m, n_folds, seed, groups=groups)
    oof = fused_oof(stack, X[:, :ground_dim], X[:, ground_dim:], y, xy, folds,
                    block_size_m, seed, groups)[:, 0]
    metrics, sizes, far = [], [], []
    for f in range(n_folds):
        test = folds == f
        metrics.append(regression_metrics(y[test], oof[test]))
        sizes.append({"train": int((~test).sum()), "test": int(test.sum())})
        far.append(far_out_share(X[~test], X[test]))
        progress(f + 1, n_folds, "cross-validate")
    config = HeadConfig(head="ridge", task="regression", seed=seed)
    report = summarise(y, oof, folds, metrics, sizes, far, "regression", config,
                       block_size_m, n_folds, seed)
    report.extra["fusion"] = FUSION_HEAD
    return report


def stacked_head(X: np.ndarray, y: np.ndarray, ground_dim: int, folds: np.ndarray,
                 target_name: str = "target", cv: CVReport | None = None,
                 seed: int = 0) -> Head:
    """The stacked head fitted on every row, as one ridge Head on [ground, overhead]; the
    stacking weights come from the views' out-of-fold predictions over `folds`."""
    X, y = check_xy_inputs(X, y)
    y = y.astype(np.float64)
    views = (X[:, :ground_dim], X[:, ground_dim:])
    paths = [RidgePath(v).fit(y) for v in views]
    inner = np.column_stack([block_cv_predict(v, y, folds)[:, 0] for v in views])
    w, a = stack_weights(inner, y)
    coef = np.concatenate([wv * p.coef[:, 0] for wv, p in zip(w, paths, strict=True)])
    intercept = a + sum(wv * (p.intercept[0] - p.offset @ p.coef[:, 0])
                        for wv, p in zip(w, paths, strict=True))
    scale = np.concatenate([1.0 / p.gain for p in paths])
    arrays = {**EigenClip.joined([p.clip for p in paths]).arrays(),
              "scale_mean": np.concatenate([p.mean for p in paths]), "scale_scale": scale,
              "coef": coef, "intercept": np.array([intercept], np.float64)}
    config = HeadConfig(head="ridge", task="regression", seed=seed)
    params = {**config.to_dict(), "task": "regression"}
    meta: dict = {"params": params, "feature_dim": int(X.shape[1]), "target": target_name,
                  "n_train": int(len(X)), "classes": None,
                  "y_range": [float(y.min()), float(y.max())],
                  "fusion": {"head": FUSION_HEAD, "ground_dim": int(ground_dim),
                             "overhead_dim": int(X.shape[1] - ground_dim),
                             "weights": [float(v) for v in w], "stack_intercept": float(a),
                             "alphas": [float(p.chosen_alphas[0]) for p in paths]}}
    z = (X - arrays["scale_mean"]) / scale
    arrays["train_z"], ref_distance = distance_reference(z, seed)
    if ref_distance is not None:
        meta["ref_distance"] = ref_distance
    if cv is not None and cv.residual_sd is not None:
        meta["residual_sd"], meta["residual_sd_source"] = cv.residual_sd, "cross-validation"
    else:
        resid = y - (z @ coef + intercept)
        meta["residual_sd"] = float(np.sqrt(np.mean(resid ** 2)))
        meta["residual_sd_source"] = "in-sample"
    if cv is not None:
        meta["metrics"] = cv.to_dict()
    log.info("stacked fusion head: ground weight %.3f, overhead weight %.3f", *w)
    return Head(kind="ridge", task="regression", arrays=arrays, meta=meta)


def stacked_predict(X: np.ndarray, y: np.ndarray, ground_dim: int, folds: np.ndarray,
                    X_new: np.ndarray) -> np.ndarray:
    """fusion_heads.stack fitted on (X, y) with `folds` as its inner folds, applied to X_new:
    what stacked_head's Head must predict (its test)."""
    Y = np.asarray(y, np.float64).reshape(-1, 1)
    fold = Fold(X[:, :ground_dim], X[:, ground_dim:], Y, folds,
                X_new[:, :ground_dim], X_new[:, ground_dim:])
    return stack(fold)[:, 0]
