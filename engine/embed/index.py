"""A faiss nearest-neighbour index beside a point-embedding GeoPackage.

`OUT.faiss` next to `OUT.gpkg` holds the L2-normalised vectors, so inner product = cosine
similarity. Up to HNSW_THRESHOLD vectors it is an exact IndexFlatIP; beyond, an approximate
IndexHNSWFlat (inner product; M=HNSW_M, efConstruction/efSearch below), whose search time
grows about logarithmically instead of linearly: bench/embed_points.py measures its recall@10
against flat search (docs/PERFORMANCE.md). Either way row k of the index is the k-th feature
of the GeoPackage layer in fid order, i.e. row k of `read_point_embeddings(OUT.gpkg)`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)
HNSW_THRESHOLD = 100_000  # vectors; below it flat search is exact and fast enough
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128


def index_path(gpkg: str | os.PathLike[str]) -> Path:
    """Where the index of `OUT.gpkg` lives: `OUT.faiss`."""
    return Path(gpkg).with_suffix(".faiss")


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32 C-contiguous."""
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.ascontiguousarray(v / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def build_index(vectors: np.ndarray, threshold: int = HNSW_THRESHOLD):
    """A faiss index of the L2-normalised `vectors` (N,D): flat, or HNSW beyond `threshold`."""
    import faiss

    v = l2_normalise(vectors)
    if v.ndim != 2 or v.shape[1] < 1:
        raise EngineError(f"cannot index vectors of shape {v.shape}", "pass (N, D) embeddings")
    d = int(v.shape[1])
    if len(v) > threshold:
        index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(d)
    index.add(v)
    return index


def write_index(vectors: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write build_index(vectors) to `path`, atomically."""
    import faiss

    index = build_index(vectors)
    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    log.info("wrote faiss index %s (%s, %d vectors, %d-d)", path, type(index).__name__,
             index.ntotal, index.d)
    return Path(path)


def read_index(path: str | os.PathLike[str]):
    """Read an index written by write_index; EngineError naming the file when it cannot."""
    import faiss

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"faiss index {path} does not exist",
                          "run embed-points: it writes OUT.faiss beside OUT.gpkg")
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise EngineError(f"faiss index {path} cannot be read ({str(exc).splitlines()[0]})",
                          "re-run embed-points to rebuild it") from None


def search(index, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarities (Q,k), row numbers (Q,k)) of the k nearest rows to each query."""
    q = l2_normalise(np.atleast_2d(queries))
    if q.shape[1] != index.d:
        raise EngineError(f"query vectors are {q.shape[1]}-d, the index {index.d}-d",
                          "embed the queries with the same model")
    sims, rows = index.search(q, int(min(k, index.ntotal)))
    return sims, rows
