"""Which head, for which task, built as a fresh sklearn Pipeline (scale -> PCA -> model).

A new Pipeline is built for every fold, so its scaler and PCA only ever see that fold's
training rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from engine.defaults import HEAD, HEADS
from engine.errors import EngineError

TASKS: tuple[str, ...] = ("auto", "regression", "classification")
RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-3, 4, 15))


@dataclass(frozen=True)
class HeadConfig:
    """Options of a light head; `task` "auto" is resolved from the head and the targets."""

    head: str = HEAD
    task: str = "auto"
    standardize: bool = True
    pca_components: int | None = None
    k: int = 10
    C: float = 1.0
    alphas: tuple[float, ...] = field(default=RIDGE_ALPHAS)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise EngineError(f"unknown head {self.head!r}", f"choose one of {', '.join(HEADS)}")
        if self.task not in TASKS:
            raise EngineError(f"unknown task {self.task!r}", f"choose one of {', '.join(TASKS)}")
        if self.head == "ridge" and self.task == "classification":
            raise EngineError("head 'ridge' cannot classify",
                              "use head 'logistic' or 'knn' for class labels")
        if self.head == "logistic" and self.task == "regression":
            raise EngineError("head 'logistic' cannot regress",
                              "use head 'ridge' or 'knn' for numeric targets")
        if self.pca_components is not None and int(self.pca_components) < 1:
            raise EngineError(f"pca_components must be >= 1, got {self.pca_components}",
                              "leave it unset to skip PCA")
        if int(self.k) < 1:
            raise EngineError(f"k must be >= 1, got {self.k}", "use k = 5..20 neighbours")
        if not self.C > 0:
            raise EngineError(f"C must be > 0, got {self.C}", "use C = 1.0")

    def to_dict(self) -> dict:
        """JSON-ready options."""
        d = asdict(self)
        d["alphas"] = list(self.alphas)
        return d


def resolve_task(config: HeadConfig, y: np.ndarray) -> str:
    """"regression" or "classification": ridge regresses, logistic classifies, and k-NN
    classifies text, boolean or integer targets and regresses floats."""
    if config.task != "auto":
        return config.task
    if config.head == "ridge":
        return "regression"
    if config.head == "logistic":
        return "classification"
    return "classification" if np.asarray(y).dtype.kind in "OUSbiu" else "regression"


def build_pipeline(config: HeadConfig, task: str, n_train: int, n_features: int):
    """A fresh, unfitted Pipeline for `config` (steps "scale", "pca", "model" as asked)."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = []
    if config.standardize:
        steps.append(("scale", StandardScaler()))
    if config.pca_components is not None:
        n = min(int(config.pca_components), n_train, n_features)
        steps.append(("pca", PCA(n_components=n, svd_solver="full",
                                 random_state=config.seed)))
    if config.head == "ridge":
        # alpha by efficient leave-one-out CV on the rows this pipeline is fitted on
        model = RidgeCV(alphas=np.asarray(config.alphas))
    elif config.head == "logistic":
        model = LogisticRegression(C=config.C, max_iter=2000, random_state=config.seed)
    elif task == "classification":
        model = KNeighborsClassifier(n_neighbors=min(int(config.k), n_train))
    else:
        model = KNeighborsRegressor(n_neighbors=min(int(config.k), n_train))
    steps.append(("model", model))
    return Pipeline(steps)
