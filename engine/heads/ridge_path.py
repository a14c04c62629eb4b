"""Ridge for many penalties and targets from one eigendecomposition.

The fit of `StandardScaler -> RidgeCV(alphas)` (intercept, alpha chosen per target by efficient
leave-one-out, scikit-learn's "gram" / "cov" modes), but the design is decomposed once and
every alpha and every target reuse it: RidgeCV redoes an O(p^3 + n p^2) step per (alpha,
target). Optional per-column weights after standardising scale a block's penalty (weight c:
penalty alpha / c^2). `predict` clips each row to the training rows' range in the design's
eigenbasis first (engine.heads.feature_range.EigenClip, built from the same decomposition), as
every ridge head of the engine does.
"""

from __future__ import annotations

import numpy as np

from engine.heads.feature_range import EigenClip, decompose, standardise
from engine.heads.pipeline import RIDGE_ALPHAS


class RidgePath:
    """A standardised design (n, p) decomposed once; `fit(Y)` picks an alpha per target by
    leave-one-out error and `predict(X)` applies the fitted heads."""

    def __init__(self, X: np.ndarray, alphas: tuple[float, ...] = RIDGE_ALPHAS,
                 weights: np.ndarray | None = None) -> None:
        X = np.asarray(X, np.float64)
        self.alphas = np.asarray(alphas, np.float64)
        self.mean, self.gain, self.offset, Z = standardise(X, weights)  # offset: round-off
        self.Z = Z
        self.eig, vectors, self.gram = decompose(Z)
        if self.gram:  # eigh of Z Z' (n, n)
            self.Q = vectors
            self.Q1 = self.Q.T @ np.ones(len(Z))
        else:  # eigh of Z' Z (p, p); B = Z V
            self.V = vectors
            self.B = Z @ self.V
            self.B2 = self.B ** 2
        self.clip = EigenClip.from_eigh(X, self.mean, self.gain, Z, self.eig, vectors,
                                        self.gram)
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.chosen: np.ndarray | None = None

    def loo_errors(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(leave-one-out errors (A, n, T), coefficients (A, p, T)) of centred Y (n, T)."""
        n = len(self.Z)
        errs, coefs = [], []
        if self.gram:
            QtY = self.Q.T @ Y
            for a in self.alphas:
                D = 1.0 / (self.eig + a)
                c = self.Q @ (D[:, None] * QtY)
                d = (self.Q ** 2) @ D - (self.Q @ (D * self.Q1)) / n
                errs.append(c / d[:, None])
                coefs.append(self.Z.T @ c)
        else:
            BtY = self.B.T @ Y
            for a in self.alphas:
                D = 1.0 / (self.eig + a)
                w = D[:, None] * BtY
                c = Y - self.B @ w
                d = 1.0 - self.B2 @ D - 1.0 / n
                errs.append(c / d[:, None])
                coefs.append(self.V @ w)
        return np.stack(errs), np.stack(coefs)

    def fit(self, Y: np.ndarray) -> RidgePath:
        """Fit every column of Y (n,) or (n, T), each with the alpha of least mean squared
        leave-one-out error (the first on ties, as RidgeCV)."""
        Y = np.asarray(Y, np.float64).reshape(len(self.Z), -1)
        ymean = Y.mean(axis=0)
        errs, coefs = self.loo_errors(Y - ymean)
        self.chosen = np.argmin((errs ** 2).mean(axis=1), axis=0)  # (T,)
        self.coef = coefs[self.chosen, :, np.arange(Y.shape[1])].T  # (p, T)
        self.intercept = ymean
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(m, T) predictions of the fitted heads, each row clipped to the training range in
        the design's eigenbasis."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("RidgePath.predict before fit")
        Z = (self.clip(X) - self.mean) * self.gain - self.offset
        return Z @ self.coef + self.intercept

    @property
    def chosen_alphas(self) -> np.ndarray:
        """The alpha picked for each target by the last fit."""
        return self.alphas[self.chosen]


def block_cv_predict(X: np.ndarray, Y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """(n, T) out-of-fold predictions of a RidgePath fitted on the other folds, per fold id."""
    Y = np.asarray(Y, np.float64).reshape(len(X), -1)
    oof = np.empty_like(Y)
    for f in np.unique(folds):
        test = folds == f
        oof[test] = RidgePath(X[~test]).fit(Y[~test]).predict(X[test])
    return oof
