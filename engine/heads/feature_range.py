"""Ridge heads clip the rows they predict to the training rows' range, in the eigenbasis of
the standardised design the ridge sees.

History. A ridge head extrapolates along any direction its training rows hardly varied in.
Measured on the benchmark's city 1 (frozen ImageNet features of overhead chips, tract
density): in one fold a channel had a training sd of 5.9e-7, a held-out tract standardised to
|z| = 31,819 on it, and was predicted at 1.85 million people/km² (truth 16,158). The first
rule clipped every feature to [min, max] of the training rows (`feature_range`,
`clip_features`). That bounded the blow-up but broke heads on correlated features (benchmark
at 228b8ab, location-encoder rows, tract R²: spherical harmonics -0.23 -> -7.5, RBF -1.31 ->
-2.84, csp_wrap -0.15 -> -1.21): ridge on correlated features uses large cancelling
coefficients, and clipping some features of a row but not their partners moves the row off
the training manifold, into the low-variance directions where those coefficients are large.

The rule now (`EigenClip`). In the standardised space z = (x - mean) * gain (gain = 1/sd,
StandardScaler's zero-variance rule, times a design's optional column weights), take the
eigenbasis V of the centred training rows Z (the directions with non-negligible eigenvalue)
and the training coordinates Z V with their per-coordinate [lo, hi]. A new row's coordinates
c = z V are clipped to [lo, hi] and the row moves by (clip(c) - c) V' only. Ridge
coefficients lie in the span of the training rows (also after a PCA step), so the prediction
is intercept + sum_k w_k clip(c_k): bounded, and a row moves only along the directions in
which it lies beyond every training row. Rows inside the box are returned unchanged, bit for
bit. The bound is the box's, not the training targets': a row far out along one raw feature
can lie beyond the box in nearly every coordinate and land on a corner, whose prediction may
exceed the training targets (Head.extrapolation_flag marks such rows).

Rules (`CLIP_RULE`, the one switch; `CLIP_RULES`): "per_feature" (the first rule),
"eigenbasis" (the rule above), "per_feature_then_eigenbasis" (each feature clipped to its
training range, then the result clipped in the eigenbasis). "eigenbasis" was chosen by the
rule pre-registered in docs/BENCHMARK_PROTOCOL.md (amendment 2026-11-26, rule selection):
smallest maximum regret of pooled tract R² over six feature sets on development cities 100
and 101 (A 59.1, B 0.037, C 0.134; B's largest regret is frozen ImageNet overhead chips,
0.437 vs 0.474; A's is spherical harmonics, -59.1 vs 0.044; C's is raw x, y + RBF, 0.123 vs
0.257). Command: bench/clip_rule_selection.py.

The same rule holds wherever a ridge head predicts: the benchmark's RidgePath, `fit`'s
cross-validation, and a saved head (arrays `clip_mean`, `clip_gain`, `clip_basis`, `clip_lo`,
`clip_hi`, plus raw-space `clip_raw_lo`, `clip_raw_hi` under the per-feature-then-eigenbasis
rule; a head fitted under, or saved with, only raw-space `clip_lo`, `clip_hi` keeps the
per-feature clip, a head saved with neither predicts unclipped, as each did).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CLIP_RULES: tuple[str, ...] = ("per_feature", "eigenbasis", "per_feature_then_eigenbasis")
CLIP_RULE = "eigenbasis"  # the one switch: every ridge head fitted from now on clips so
CLIPPED_HEADS: tuple[str, ...] = ("ridge",)
ZERO_VARIANCE = 10 * np.finfo(np.float64).eps  # StandardScaler's rule: sd below it -> 1
EIGEN_ARRAYS: tuple[str, ...] = ("clip_mean", "clip_gain", "clip_basis", "clip_lo", "clip_hi")
RAW_ARRAYS: tuple[str, ...] = ("clip_raw_lo", "clip_raw_hi")  # the per-feature step's range
CLIP_ARRAYS: tuple[str, ...] = EIGEN_ARRAYS + RAW_ARRAYS  # every array a saved clip may hold


def feature_range(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-column minimum, per-column maximum) of the training rows, float64."""
    X = np.asarray(X, np.float64)
    return X.min(axis=0), X.max(axis=0)


def clip_features(X: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """X (float64) with every column clipped to [lo, hi] (the first rule; old saved heads)."""
    return np.clip(np.asarray(X, np.float64), lo, hi)


def standardise(X: np.ndarray, weights: np.ndarray | None = None, standardize: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, gain, offset, Z) of training rows X: gain = weights / sd (StandardScaler's
    zero-variance rule; 1 / sd without weights; weights or 1 without standardising) and
    Z = (X - mean) * gain - offset, centred again (offset: round-off), the ridge's design."""
    X = np.asarray(X, np.float64)
    mean = X.mean(axis=0)
    sd = X.std(axis=0) if standardize else np.ones(X.shape[1])
    sd[sd < ZERO_VARIANCE] = 1.0
    gain = 1.0 / sd if weights is None else np.asarray(weights, np.float64) / sd
    Z = (X - mean) * gain
    offset = Z.mean(axis=0)
    Z -= offset
    return mean, gain, offset, Z


def decompose(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(eigenvalues, eigenvectors, gram) of Z Z' (n, n) when n <= p ("gram"), else Z'Z."""
    gram = Z.shape[0] <= Z.shape[1]
    eig, vectors = np.linalg.eigh(Z @ Z.T if gram else Z.T @ Z)
    return eig, vectors, gram


class EigenClip:
    """Clips raw rows by the rule `CLIP_RULE` names (module docstring): first each feature to
    the training rows' raw range [raw_lo, raw_hi] when the rule has that step (else None),
    then to the training rows' range in the eigenbasis of their standardised design. `basis`
    (p, r) holds the directions with non-negligible eigenvalue (r = 0 for "per_feature");
    `lo`, `hi` (r,) the training coordinates' range."""

    def __init__(self, mean: np.ndarray, gain: np.ndarray, basis: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, raw_lo: np.ndarray | None = None,
                 raw_hi: np.ndarray | None = None) -> None:
        # C order, as a saved head loads them: the same layout, the same round-off
        self.mean, self.gain, self.basis, self.lo, self.hi = (
            np.ascontiguousarray(a, np.float64) for a in (mean, gain, basis, lo, hi))
        self.raw_lo, self.raw_hi = (None if a is None else np.ascontiguousarray(a, np.float64)
                                    for a in (raw_lo, raw_hi))

    @classmethod
    def fit(cls, X: np.ndarray, weights: np.ndarray | None = None,
            standardize: bool = True) -> EigenClip:
        """The clip of training rows X (optional column weights, as RidgePath's)."""
        mean, gain, _, Z = standardise(X, weights, standardize)
        return cls.from_eigh(X, mean, gain, Z, *decompose(Z))

    @classmethod
    def from_eigh(cls, X: np.ndarray, mean: np.ndarray, gain: np.ndarray, Z: np.ndarray,
                  eig: np.ndarray, vectors: np.ndarray, gram: bool) -> EigenClip:
        """The clip (rule CLIP_RULE) of training rows X from a decomposition of their design Z
        (`decompose`): eigenvectors of Z Z' (gram: basis Z'Q / sqrt(eig)) or of Z'Z.
        Eigenvalues within round-off of zero (below max * max(n, p) * eps) carry no
        direction."""
        if CLIP_RULE not in CLIP_RULES:
            raise ValueError(f"CLIP_RULE {CLIP_RULE!r}: one of {CLIP_RULES}")
        top = float(eig.max()) if eig.size else 0.0
        keep = eig > top * max(Z.shape) * np.finfo(np.float64).eps
        if CLIP_RULE == "per_feature":
            keep[:] = False
        if gram:
            basis = (Z.T @ vectors[:, keep]) / np.sqrt(eig[keep])
        else:
            basis = vectors[:, keep]
        raw = feature_range(X) if CLIP_RULE != "eigenbasis" else (None, None)
        clip = cls(mean, gain, basis, np.zeros(basis.shape[1]), np.zeros(basis.shape[1]), *raw)
        coords = clip.coords(X)  # as __call__ computes them: training rows lie inside
        clip.lo, clip.hi = coords.min(axis=0), coords.max(axis=0)
        return clip

    def coords(self, X: np.ndarray) -> np.ndarray:
        """(m, r) coordinates of raw rows X in the basis."""
        return ((np.asarray(X, np.float64) - self.mean) * self.gain) @ self.basis

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """X (float64), each feature clipped to the raw range first if the rule says so, then
        moved, row by row, only along the directions where its coordinates lie beyond the
        training range, onto that range's edge; rows inside are returned as they are."""
        X = np.array(X, np.float64)
        if self.raw_lo is not None:
            X = np.clip(X, self.raw_lo, self.raw_hi, out=X)
        c = self.coords(X)
        d = np.clip(c, self.lo, self.hi) - c
        rows = np.flatnonzero((d != 0).any(axis=1))
        if rows.size:
            dz = d[rows] @ self.basis.T
            X[rows] += np.divide(dz, self.gain, out=np.zeros_like(dz), where=self.gain != 0)
        return X

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays a saved head stores: raw-space clip_lo, clip_hi for "per_feature" (the
        first rule's format), EIGEN_ARRAYS for "eigenbasis", both (RAW_ARRAYS) for
        "per_feature_then_eigenbasis"."""
        if self.basis.shape[1] == 0 and self.raw_lo is not None:
            return {"clip_lo": self.raw_lo, "clip_hi": self.raw_hi}
        out = dict(zip(EIGEN_ARRAYS, (self.mean, self.gain, self.basis, self.lo, self.hi),
                       strict=True))
        if self.raw_lo is not None:
            out.update(zip(RAW_ARRAYS, (self.raw_lo, self.raw_hi), strict=True))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> EigenClip:
        raw = [np.asarray(arrays[k], np.float64) if k in arrays else None for k in RAW_ARRAYS]
        return cls(*(np.asarray(arrays[k], np.float64) for k in EIGEN_ARRAYS), *raw)

    @classmethod
    def joined(cls, clips: list[EigenClip]) -> EigenClip:
        """One clip of the joined columns [x_1, x_2, ...] that clips each part by its own
        clip (a block-diagonal basis): a stacked head of per-view ridges."""
        p = [len(c.mean) for c in clips]
        r = [c.basis.shape[1] for c in clips]
        basis = np.zeros((sum(p), sum(r)))
        for k, c in enumerate(clips):
            basis[sum(p[:k]):sum(p[:k + 1]), sum(r[:k]):sum(r[:k + 1])] = c.basis
        raw = [None if any(c.raw_lo is None for c in clips) else
               np.concatenate([getattr(c, k) for c in clips]) for k in ("raw_lo", "raw_hi")]
        return cls(np.concatenate([c.mean for c in clips]),
                   np.concatenate([c.gain for c in clips]), basis,
                   np.concatenate([c.lo for c in clips]), np.concatenate([c.hi for c in clips]),
                   *raw)


def stored_clip(arrays: dict[str, np.ndarray]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The clip a saved ridge head applies: the eigenbasis clip (after the per-feature step if
    the head stores `clip_raw_lo`, `clip_raw_hi`), the per-feature clip of a head saved with
    raw-space `clip_lo`, `clip_hi` only, or None (saved before any clip)."""
    if "clip_basis" in arrays:
        return EigenClip.from_arrays(arrays)
    if "clip_lo" in arrays:
        lo, hi = arrays["clip_lo"], arrays["clip_hi"]
        return lambda X: clip_features(X, lo, hi)
    return None
