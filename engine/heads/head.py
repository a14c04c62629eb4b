"""A fitted head as plain arrays + JSON metadata, with a numpy predictor.

The same class serves a freshly fitted head and one loaded from disk, so saving and
loading cannot change a prediction. No sklearn object is kept or pickled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import EngineError
from engine.heads.extrapolation import out_of_range
from engine.heads.feature_range import stored_clip

CHUNK = 2048  # query rows per block (bounds the float64 re-ranking buffer)
RERANK_MARGIN = 8  # extra faiss candidates re-ranked exactly, so float32 near-ties cannot
# change which rows are the k nearest


def nearest(z: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Euclidean distances of the k nearest training rows, sorted by distance
    then by training row.

    faiss (exact IndexFlatL2, float32) finds k + RERANK_MARGIN candidates; their distances
    are recomputed in float64 and re-ranked, so the result matches an exact float64 search.
    """
    import faiss

    z = np.asarray(z, dtype=np.float64)
    train = np.asarray(train, dtype=np.float64)
    n = train.shape[0]
    if k > n:
        raise EngineError(f"{k} neighbours asked of {n} training rows",
                          "fit the head on more rows or use a smaller k")
    index = faiss.IndexFlatL2(train.shape[1])
    index.add(np.ascontiguousarray(train, dtype=np.float32))
    idx = np.empty((len(z), k), dtype=np.int64)
    dist = np.empty((len(z), k), dtype=np.float64)
    for s in range(0, len(z), CHUNK):
        q = z[s:s + CHUNK]
        _, cand = index.search(np.ascontiguousarray(q, dtype=np.float32),
                               min(n, k + RERANK_MARGIN))
        d2 = ((q[:, None, :] - train[cand]) ** 2).sum(axis=2)
        order = np.lexsort((cand, d2), axis=1)[:, :k]  # by distance, then by training row
        idx[s:s + CHUNK] = np.take_along_axis(cand, order, axis=1)
        dist[s:s + CHUNK] = np.sqrt(np.take_along_axis(d2, order, axis=1))
    return idx, dist


@dataclass
class Head:
    """kind: ridge | logistic | knn; task: regression | classification.

    `arrays` (float64/int64): clip_mean, clip_gain, clip_basis, clip_lo, clip_hi (ridge: the
    training rows' range in their design's eigenbasis; a head saved before it holds raw-space
    clip_lo, clip_hi only; see engine.heads.feature_range), scale_mean, scale_scale, pca_mean,
    pca_components, coef, intercept, train_z (k-NN: training rows after scale/PCA; ridge: a
    sample of them for the distance term), train_y (k-NN targets; class indices when classifying).
    `meta`: params, feature_dim, target, classes, metrics, residual_sd, ref_distance.
    """

    kind: str
    task: str
    arrays: dict[str, np.ndarray]
    meta: dict

    @property
    def feature_dim(self) -> int:
        return int(self.meta["feature_dim"])

    @property
    def classes(self) -> np.ndarray | None:
        c = self.meta.get("classes")
        return None if c is None else np.asarray(c)

    def transform(self, X: np.ndarray, clip: bool = True) -> np.ndarray:
        """Apply the stored clip to the training range (unless `clip` is False; the rule the
        head was saved with, engine.heads.feature_range.stored_clip), scaler and PCA (all
        fitted on the head's training rows)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.feature_dim:
            fusion = self.meta.get("fusion")
            raise EngineError(
                f"the head expects {self.feature_dim}-D features, got shape {X.shape}",
                "embed with the same model the head was fitted on" if not fusion else
                f"this fused head (fit --fuse-field) takes {fusion['ground_dim']} photo "
                f"dims + {fusion['overhead_dim']} field dims: it applies only where a photo "
                "and the overhead field both exist (engine.maps.fusion.fused_predictions)",
            )
        a = self.arrays
        clipper = stored_clip(a) if clip else None
        if clipper is not None:
            X = clipper(X)
        if "scale_mean" in a:
            X = (X - a["scale_mean"]) / a["scale_scale"]
        if "pca_components" in a:
            X = (X - a["pca_mean"]) @ a["pca_components"].T
        return X

    def _decision(self, z: np.ndarray) -> np.ndarray:
        return z @ self.arrays["coef"].T + self.arrays["intercept"]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (N, n_classes) for a classifying head."""
        if self.task != "classification":
            raise EngineError(f"a {self.kind} regression head has no class probabilities",
                              "call predict() instead")
        z = self.transform(X)
        if self.kind == "logistic":
            d = self._decision(z)
            if d.shape[1] == 1:  # binary: sigmoid of the single decision function
                p1 = 1.0 / (1.0 + np.exp(-d[:, 0]))
                return np.stack([1.0 - p1, p1], axis=1)
            d = d - d.max(axis=1, keepdims=True)
            e = np.exp(d)
            return e / e.sum(axis=1, keepdims=True)
        idx, _ = nearest(z, self.arrays["train_z"], self._k)
        votes = self.arrays["train_y"][idx]
        n_cls = len(self.meta["classes"])
        return np.stack([(votes == c).mean(axis=1) for c in range(n_cls)], axis=1)

    @property
    def _k(self) -> int:
        return min(int(self.meta["params"]["k"]), self.arrays["train_z"].shape[0])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted value (regression, float64) or class label (classification)."""
        if self.kind == "ridge":  # skip the distance term of the uncertainty
            return self._decision(self.transform(X)).reshape(-1)
        return self.predict_with_uncertainty(X)[0]

    def extrapolation_flag(self, X: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """1.0 where a regression row extrapolates: its prediction, or (a ridge head, which
        clips its features) the prediction of its unclipped features, lies beyond the training
        targets by more than the margin (engine.heads.extrapolation); else 0."""
        y_range = self.meta.get("y_range")
        flag = out_of_range(pred, y_range)
        if self.kind == "ridge" and "clip_lo" in self.arrays:
            raw = self._decision(self.transform(X, clip=False)).reshape(-1)
            flag = np.maximum(flag, out_of_range(raw, y_range))
        return flag

    def uncertainty(self, X: np.ndarray) -> np.ndarray:
        """Per-row uncertainty: k-NN spread of neighbour targets (regression) or
        1 - vote share; ridge: CV residual sd scaled up beyond the training data; logistic:
        1 - max probability."""
        return self.predict_with_uncertainty(X)[1]

    def predict_with_uncertainty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(prediction, uncertainty) in one pass."""
        if self.task == "classification":
            p = self.predict_proba(X)
            best = np.argmax(p, axis=1)
            return self.classes[best], 1.0 - p.max(axis=1)
        z = self.transform(X)
        if self.kind == "knn":
            idx, _ = nearest(z, self.arrays["train_z"], self._k)
            t = self.arrays["train_y"][idx].astype(np.float64)
            return t.mean(axis=1), t.std(axis=1)
        pred = self._decision(z).reshape(-1)
        sd = float(self.meta.get("residual_sd") or 0.0)
        ref = float(self.meta.get("ref_distance") or 0.0)
        if ref > 0 and "train_z" in self.arrays:  # distance before the clip: beyond the
            # training range the uncertainty keeps growing
            _, d = nearest(self.transform(X, clip=False), self.arrays["train_z"], 1)
            return pred, sd * np.maximum(1.0, d[:, 0] / ref)
        return pred, np.full(len(pred), sd)
