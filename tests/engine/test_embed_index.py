"""The faiss index beside point embeddings: flat up to the threshold, HNSW beyond, same rows."""

from __future__ import annotations

import numpy as np

from engine.embed import index as idx


def test_large_point_sets_get_an_hnsw_index_with_the_same_rows() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(400, 16)).astype(np.float32)
    flat, hnsw = idx.build_index(vectors), idx.build_index(vectors, threshold=100)
    assert type(flat).__name__ == "IndexFlatIP" and type(hnsw).__name__ == "IndexHNSWFlat"
    assert np.array_equal(hnsw.reconstruct_n(0, 400), idx.l2_normalise(vectors))
    _, rows = idx.search(hnsw, vectors[:50], k=1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.95  # each row finds itself

