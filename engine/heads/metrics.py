"""Fold metrics (R2, MAE, Spearman; accuracy, macro-F1) and a t-interval across folds."""

from __future__ import annotations

import warnings

import numpy as np

REGRESSION_METRICS: tuple[str, ...] = ("r2", "mae", "spearman")
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R2 (1 - SS_res / SS_tot), mean absolute error and Spearman's rho (NaN if undefined)."""
    from scipy.stats import spearmanr

    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    mae = float(np.mean(np.abs(y_true - y_pred)))
    if len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        rho = float("nan")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rho = float(spearmanr(y_true, y_pred).statistic)
    return {"r2": r2, "mae": mae, "spearman": rho}


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 over the classes present in the truth or the predictions."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    accuracy = float(np.mean(y_true == y_pred))
    f1s = []
    for c in np.unique(np.concatenate([y_true, y_pred])):
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0)
    return {"accuracy": accuracy, "macro_f1": float(np.mean(f1s))}


def t_interval(values: list[float] | np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-interval of the mean of per-fold values (NaN folds dropped)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = float(t.ppf(0.5 + level / 2, df=len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    m = float(v.mean())
    return (m - half, m + half)
