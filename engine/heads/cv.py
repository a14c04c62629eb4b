"""Spatial block cross-validation of a light head: per-fold metrics, a 95% t-interval,
and out-of-fold predictions. Every transform is fitted inside the fold."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.errors import EngineError
from engine.heads.extrapolation import FAR_OUT_SHARE, far_out_share
from engine.heads.feature_range import CLIPPED_HEADS, EigenClip
from engine.heads.metrics import (
    CLASSIFICATION_METRICS,
    METRIC_RANGE,
    REGRESSION_METRICS,
    classification_metrics,
    metric_text,
    regression_metrics,
    t_interval,
)
from engine.heads.pipeline import HeadConfig, build_pipeline, resolve_task
from engine.heads.spatial_cv import spatial_folds
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


@dataclass
class CVReport:
    """What a spatial cross-validation measured (arrays are per input row)."""

    head: str
    task: str
    config: dict
    block_size_m: float
    n_folds: int
    seed: int
    folds: np.ndarray                      # fold id per row
    fold_metrics: list[dict[str, float]]   # one dict per fold
    fold_sizes: list[dict[str, int]]       # {"train": n, "test": n} per fold
    mean: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    pooled: dict[str, float]               # metrics of all out-of-fold predictions at once
    oof_pred: np.ndarray                   # out-of-fold prediction per row
    residual_sd: float | None = None       # regression: RMS of out-of-fold residuals
    extra: dict = field(default_factory=dict)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return REGRESSION_METRICS if self.task == "regression" else CLASSIFICATION_METRICS

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-row arrays)."""
        return {
            "head": self.head, "task": self.task, "config": self.config,
            "block_size_m": self.block_size_m, "n_folds": self.n_folds, "seed": self.seed,
            "n_rows": int(len(self.folds)), "fold_metrics": self.fold_metrics,
            "fold_sizes": self.fold_sizes, "mean": self.mean,
            "ci95": {k: list(v) for k, v in self.ci95.items()}, "pooled": self.pooled,
            "residual_sd": self.residual_sd, **self.extra,
        }

    def summary(self) -> str:
        """One line per metric: mean [95% CI]."""
        return "; ".join(f"{m} {self.mean[m]:.3f} [{self.ci95[m][0]:.3f}, {self.ci95[m][1]:.3f}]"
                         for m in self.metric_names)


def check_xy_inputs(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """X as float64 (N, D) without NaN, y as a 1-D array of the same length without gaps."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise EngineError(f"features must be a 2-D (rows, dims) array, got shape {X.shape}",
                          "stack one embedding per row")
    if y.ndim != 1 or len(y) != len(X):
        raise EngineError(f"targets must be 1-D with one value per row: {y.shape} vs {X.shape}",
                          "pass one label per embedding row")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise EngineError(f"feature row {int(np.flatnonzero(bad)[0])} has NaN/inf values "
                          f"({int(bad.sum())} rows)", "drop rows whose embedding failed")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        row = int(np.flatnonzero(~np.isfinite(y))[0])
        raise EngineError(f"target of row {row} is missing (NaN)",
                          "drop unlabelled rows before fitting a head")
    if y.dtype.kind == "O" and any(v is None for v in y):
        row = next(i for i, v in enumerate(y) if v is None)
        raise EngineError(f"target of row {row} is missing (None)",
                          "drop unlabelled rows before fitting a head")
    return X, y


def cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    xy: np.ndarray,
    head: str = "ridge",
    block_size_m: float = 500.0,
    n_folds: int = 5,
    seed: int = 0,
    groups: np.ndarray | None = None,
    *,
    config: HeadConfig | None = None,
    pipeline_factory: Callable[[], object] | None = None,
    progress: Progress = no_progress,
) -> CVReport:
    """Spatial block K-fold CV of a head on (X, y) placed at `xy` (metres, projected CRS).

    `config` carries head options (task, standardize, pca_components, k, C); its `head`
    wins over `head` when given. `pipeline_factory` replaces the default Pipeline (it must
    return a fresh, unfitted estimator on each call). `groups` keeps rows of one group
    (e.g. location_id) in one fold.
    """
    X, y = check_xy_inputs(X, y)
    config = config or HeadConfig(head=head, seed=seed)
    task = resolve_task(config, y)
    folds = spatial_folds(xy, block_size_m, n_folds, seed, groups=groups)
    if len(folds) != len(X):
        raise EngineError(f"{len(folds)} coordinates for {len(X)} feature rows",
                          "pass one x, y per embedding row")
    oof = np.empty(len(y), dtype=np.float64 if task == "regression" else y.dtype)
    fold_metrics: list[dict[str, float]] = []
    fold_sizes: list[dict[str, int]] = []
    far: list[float] = []
    for f in range(n_folds):
        test = folds == f
        train = ~test
        if task == "classification" and len(np.unique(y[train])) < 2:
            raise EngineError(f"fold {f}: the training rows hold a single class",
                              "use larger folds (fewer folds) or more labelled rows")
        if pipeline_factory is not None:
            model = pipeline_factory()
        else:
            model = build_pipeline(config, task, int(train.sum()), X.shape[1])
        model.fit(X[train], y[train])
        far.append(far_out_share(X[train], X[test]))
        x_test = X[test]
        if pipeline_factory is None and config.head in CLIPPED_HEADS:
            x_test = EigenClip.fit(X[train], standardize=config.standardize)(x_test)
        pred = np.asarray(model.predict(x_test))
        oof[test] = pred
        score = (regression_metrics(y[test], pred) if task == "regression"
                 else classification_metrics(y[test], pred))
        fold_metrics.append(score)
        fold_sizes.append({"train": int(train.sum()), "test": int(test.sum())})
        log.info("fold %d/%d: %s", f + 1, n_folds, metric_text(score))
        progress(f + 1, n_folds, "cross-validate")
    return summarise(y, oof, folds, fold_metrics, fold_sizes, far, task, config,
                     block_size_m, n_folds, seed)


def summarise(y: np.ndarray, oof: np.ndarray, folds: np.ndarray,
              fold_metrics: list[dict[str, float]], fold_sizes: list[dict[str, int]],
              far: list[float], task: str, config: HeadConfig, block_size_m: float,
              n_folds: int, seed: int) -> CVReport:
    """The CVReport of out-of-fold predictions `oof` and their per-fold metrics: means, 95%
    t-intervals, pooled metrics, the out-of-fold residual sd and the far-out folds."""
    names = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    mean = {m: float(np.nanmean([fm[m] for fm in fold_metrics]))
            if any(np.isfinite(fm[m]) for fm in fold_metrics) else float("nan") for m in names}
    ci95 = {m: t_interval([fm[m] for fm in fold_metrics],
                          bounds=METRIC_RANGE.get(m, (-np.inf, np.inf))) for m in names}
    if task == "regression":
        pooled = regression_metrics(y, oof)
        residual_sd = float(np.sqrt(np.mean((y.astype(np.float64) - oof) ** 2)))
    else:
        pooled = classification_metrics(y, oof)
        residual_sd = None
    return CVReport(
        head=config.head, task=task, config=config.to_dict(), block_size_m=float(block_size_m),
        n_folds=int(n_folds), seed=int(seed), folds=folds, fold_metrics=fold_metrics,
        fold_sizes=fold_sizes, mean=mean, ci95=ci95, pooled=pooled, oof_pred=oof,
        residual_sd=residual_sd, extra=_far_out_report(far),
    )


def _far_out_report(far: list[float]) -> dict:
    """Per-fold share of test rows outside the training features; folds mostly outside."""
    folds = [f for f, share in enumerate(far) if share > FAR_OUT_SHARE]
    for f in folds:
        log.warning("fold %d: %.0f%% of its test rows lie outside the training features: "
                    "its score measures extrapolation", f, 100 * far[f])
    return {"far_out_share": [round(v, 3) for v in far], "far_out_folds": folds}
