"""Benchmark metrics: place-recognition Recall@K, cross-view retrieval, regression and ranking
scores, map fidelity. Pure numpy / faiss; every function takes plain arrays.
"""

from __future__ import annotations

import numpy as np

from engine.errors import EngineError
from engine.heads.metrics import pearson, r2, rmse, spearman

__all__ = ["cosine_neighbours", "cross_view_retrieval", "l2_normalise", "match_ranks",
           "pairwise_accuracy", "pearson", "place_match", "r2", "recall_at_k",
           "retrieval_scores", "rmse", "spearman"]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 for faiss."""
    v = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def cosine_neighbours(queries: np.ndarray, database: np.ndarray, k: int) -> np.ndarray:
    """(Q, min(k, N)) database rows nearest each query by cosine (faiss IndexFlatIP)."""
    import faiss

    db = l2_normalise(database)
    q = l2_normalise(queries)
    if db.ndim != 2 or q.ndim != 2 or db.shape[1] != q.shape[1]:
        raise EngineError(f"query vectors {q.shape} and database vectors {db.shape} differ",
                          "embed queries and database with the same model")
    index = faiss.IndexFlatIP(db.shape[1])
    index.add(db)
    _, idx = index.search(q, min(int(k), len(db)))
    return idx


def heading_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Absolute difference of headings in degrees, folded to 0..180."""
    d = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) % 360.0
    return np.minimum(d, 360.0 - d)


def place_match(a_xy: np.ndarray, b_xy: np.ndarray, a_heading: np.ndarray,
                b_heading: np.ndarray, radius_m: float = 25.0,
                max_heading_deg: float = 45.0) -> np.ndarray:
    """Element-wise: photos a and b show the same place (within radius_m metres and, where
    both headings are known, within max_heading_deg; a NaN heading is accepted)."""
    near = np.linalg.norm(np.asarray(a_xy, np.float64) - np.asarray(b_xy, np.float64),
                          axis=-1) <= radius_m
    return near & ~(heading_difference(a_heading, b_heading) > max_heading_deg)


def recall_at_k(query_emb: np.ndarray, db_emb: np.ndarray, query_xy: np.ndarray,
                db_xy: np.ndarray, query_heading: np.ndarray | None = None,
                db_heading: np.ndarray | None = None, ks: tuple[int, ...] = (1, 5, 10),
                radius_m: float = 25.0, max_heading_deg: float = 45.0) -> dict[str, float]:
    """Visual place recognition Recall@K: share of queries with a true match in the top K.

    A database photo is a true match when it lies within `radius_m` (x, y metres) of the
    query and, with headings given (NaN = unknown, accepted), within `max_heading_deg`.
    Queries with no true match in the whole database are left out (counted in "n_queries").
    """
    from scipy.spatial import cKDTree

    qxy, dxy = np.asarray(query_xy, np.float64), np.asarray(db_xy, np.float64)
    use_heading = query_heading is not None and db_heading is not None
    qh = np.asarray(query_heading, np.float64) if use_heading else np.full(len(qxy), np.nan)
    dh = np.asarray(db_heading, np.float64) if use_heading else np.full(len(dxy), np.nan)

    def is_match(q: np.ndarray, d: np.ndarray) -> np.ndarray:
        return place_match(qxy[q], dxy[d], qh[q], dh[d], radius_m, max_heading_deg)

    tree = cKDTree(dxy)
    has = np.array([bool(is_match(np.full(len(c), i), np.asarray(c, np.int64)).any())
                    for i, c in enumerate(tree.query_ball_point(qxy, radius_m))], dtype=bool)
    out: dict[str, float] = {"n_queries": float(has.sum())}
    if not has.any():
        return {**out, **{f"R@{k}": float("nan") for k in ks}}
    rows = np.flatnonzero(has)
    idx = cosine_neighbours(np.asarray(query_emb)[rows], db_emb, max(ks))
    hits = is_match(np.repeat(rows[:, None], idx.shape[1], axis=1), idx)
    for k in ks:
        out[f"R@{k}"] = float(hits[:, :k].any(axis=1).mean())
    return out


def match_ranks(queries: np.ndarray, database: np.ndarray) -> np.ndarray:
    """1-based rank of database row i among all rows for query i (cosine; ties pessimistic)."""
    q, db = l2_normalise(queries), l2_normalise(database)
    if q.shape != db.shape:
        raise EngineError(f"paired retrieval needs as many queries as targets: {q.shape} vs "
                          f"{db.shape}", "pass row i of both sides for the same place")
    sims = q.astype(np.float64) @ db.astype(np.float64).T
    own = np.diag(sims)
    return (sims >= own[:, None]).sum(axis=1).astype(np.int64)


def retrieval_scores(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """R@K (share of ranks <= K) and the median rank."""
    ranks = np.asarray(ranks)
    out = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    return out


def cross_view_retrieval(ground: np.ndarray, overhead: np.ndarray,
                         ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Ground->overhead and overhead->ground R@K + median rank; row i of both is one place."""
    g2o = retrieval_scores(match_ranks(ground, overhead), ks)
    o2g = retrieval_scores(match_ranks(overhead, ground), ks)
    return {**{f"g2o_{k}": v for k, v in g2o.items()}, **{f"o2g_{k}": v for k, v in o2g.items()}}


def pairwise_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_pairs: int = 10000,
                      seed: int = 0) -> float:
    """Share of sampled pairs (seeded, ties in the truth skipped) ordered alike by both."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if len(t) < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(t), size=int(n_pairs))
    j = rng.integers(0, len(t), size=int(n_pairs))
    dt = np.sign(t[i] - t[j])
    keep = dt != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.sign(p[i] - p[j])[keep] == dt[keep]))
