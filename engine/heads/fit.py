"""Fit a head on all labelled rows (after cross-validation) for use in maps."""

from __future__ import annotations

import logging

import numpy as np

from engine.heads.cv import CVReport, check_xy_inputs
from engine.heads.feature_range import CLIPPED_HEADS, EigenClip
from engine.heads.head import Head, nearest
from engine.heads.pipeline import HeadConfig, build_pipeline, resolve_task

log = logging.getLogger(__name__)

MAX_REFERENCE_ROWS = 5000  # training rows a ridge head keeps for its distance term


def _json_scalar(v: object) -> object:
    return v.item() if isinstance(v, np.generic) else v


def distance_reference(z: np.ndarray, seed: int) -> tuple[np.ndarray, float | None]:
    """A seeded sample (at most MAX_REFERENCE_ROWS) of a ridge head's transformed training
    rows, and their typical spacing (median distance to the nearest other row; None for one
    row): the distance term of the head's uncertainty."""
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(z), size=min(len(z), MAX_REFERENCE_ROWS), replace=False))
    ref = z[keep]
    if len(ref) < 2:
        return ref, None
    _, d = nearest(ref, ref, 2)
    return ref, float(np.median(d[:, 1]))


def fit_head(
    X: np.ndarray,
    y: np.ndarray,
    head: str = "ridge",
    *,
    config: HeadConfig | None = None,
    target_name: str = "target",
    cv: CVReport | None = None,
) -> Head:
    """Fit `head` (or `config`) on every row of (X, y) and return a numpy `Head`.

    `cv` (the report of `cross_validate` on the same rows) supplies the metrics stored with
    the head and, for ridge, the out-of-fold residual sd behind its uncertainty; without it
    the in-sample residual sd is used (and flagged in meta as "residual_sd_source").
    """
    X, y = check_xy_inputs(X, y)
    config = config or HeadConfig(head=head)
    task = resolve_task(config, y)
    pipe = build_pipeline(config, task, len(X), X.shape[1])
    pipe.fit(X, y)
    arrays: dict[str, np.ndarray] = {}
    steps = dict(pipe.named_steps)
    if config.head in CLIPPED_HEADS:
        arrays.update(EigenClip.fit(X, standardize=config.standardize).arrays())
    if "scale" in steps:
        arrays["scale_mean"] = np.asarray(steps["scale"].mean_, dtype=np.float64)
        arrays["scale_scale"] = np.asarray(steps["scale"].scale_, dtype=np.float64)
    if "pca" in steps:
        arrays["pca_mean"] = np.asarray(steps["pca"].mean_, dtype=np.float64)
        arrays["pca_components"] = np.asarray(steps["pca"].components_, dtype=np.float64)
    model = steps["model"]
    params = config.to_dict()
    params["task"] = task
    meta: dict = {"params": params, "feature_dim": int(X.shape[1]), "target": target_name,
                  "n_train": int(len(X)), "classes": None}
    z = pipe[:-1].transform(X) if len(pipe) > 1 else X
    z = np.asarray(z, dtype=np.float64)
    if task == "regression":  # the extrapolation guard's reference (engine.heads.extrapolation)
        meta["y_range"] = [float(np.min(y)), float(np.max(y))]
    if task == "classification":
        classes = np.asarray(model.classes_)
        meta["classes"] = [_json_scalar(c) for c in classes]
    if config.head in ("ridge", "logistic"):
        arrays["coef"] = np.atleast_1d(np.asarray(model.coef_, dtype=np.float64))
        arrays["intercept"] = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    if config.head == "ridge":
        meta["alpha"] = float(model.alpha_)
        if cv is not None and cv.residual_sd is not None:
            meta["residual_sd"], meta["residual_sd_source"] = cv.residual_sd, "cross-validation"
        else:
            resid = y.astype(np.float64) - pipe.predict(X)
            meta["residual_sd"] = float(np.sqrt(np.mean(resid ** 2)))
            meta["residual_sd_source"] = "in-sample"
        arrays["train_z"], ref_distance = distance_reference(z, config.seed)
        if ref_distance is not None:
            meta["ref_distance"] = ref_distance
    if config.head == "knn":
        arrays["train_z"] = z
        if task == "classification":
            arrays["train_y"] = np.searchsorted(np.asarray(model.classes_), y).astype(np.int64)
        else:
            arrays["train_y"] = y.astype(np.float64)
    if cv is not None:
        meta["metrics"] = cv.to_dict()
    log.info("fitted %s head (%s) on %d rows x %d dims", config.head, task, *X.shape)
    return Head(kind=config.head, task=task, arrays=arrays, meta=meta)
