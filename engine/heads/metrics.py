"""Fold metrics (R2, MAE, Spearman; accuracy, macro-F1) and a t-interval across folds.

The one definition of R2, Pearson, Spearman and RMSE: engine.evaluate.metrics imports them.
"""

from __future__ import annotations

import numpy as np

REGRESSION_METRICS: tuple[str, ...] = ("r2", "mae", "spearman")
CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy", "macro_f1")


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination 1 - SS_res / SS_tot (NaN for a constant truth)."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    return 1.0 - float(np.sum((t - p) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r (NaN when fewer than 2 values or either side is constant)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (Pearson r of average ranks); NaN when either side is constant."""
    from scipy.stats import rankdata

    return pearson(rankdata(a), rankdata(b))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared difference (NaN for no values)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.sqrt(np.mean((a - b) ** 2))) if len(a) else float("nan")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R2, mean absolute error and Spearman's rho (NaN where undefined)."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return {"r2": r2(t, p), "mae": float(np.mean(np.abs(t - p))), "spearman": spearman(t, p)}


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


# the values each metric can take: a t-interval over a few folds is cut to them (an MAE
# interval reaching below 0 or a Spearman one beyond 1 says nothing more)
METRIC_RANGE = {"r2": (-np.inf, 1.0), "mae": (0.0, np.inf), "spearman": (-1.0, 1.0),
                "accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0)}


def t_interval(values: list[float] | np.ndarray, level: float = 0.95,
               bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float]:
    """Two-sided t-interval of the mean of per-fold values (NaN folds dropped), cut to
    `bounds` (the values the metric can take)."""
    from scipy.stats import t

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (float("nan"), float("nan"))
    half = float(t.ppf(0.5 + level / 2, df=len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    m = float(v.mean())
    return (float(max(m - half, bounds[0])), float(min(m + half, bounds[1])))


def metric_text(score: dict[str, float]) -> str:
    """"r2 0.412, mae 1.03e+04, spearman 0.655": a fold's metrics for a log line."""
    return ", ".join(f"{k} {v:.3g}" for k, v in score.items())


def no_skill(mean: dict, y: np.ndarray) -> str | None:
    """Words for a head that does worse in spatial cross-validation than the trivial guess:
    mean R² below 0 (the labels' mean predicts better) or accuracy below the share of the
    most common class; None otherwise (or when the metric is missing)."""
    r2_mean = mean.get("r2")
    if r2_mean is not None and np.isfinite(r2_mean) and r2_mean < 0:
        return (f"mean CV R² {r2_mean:.3f} < 0: on held-out blocks the head predicts worse than "
                "the labels' mean")
    acc = mean.get("accuracy")
    if acc is not None and len(y):
        _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        majority = counts.max() / len(y)
        if acc < majority:
            return (f"mean CV accuracy {acc:.3f} is below {majority:.3f}, the share of the "
                    "most common class: on held-out blocks always guessing it does better")
    return None
