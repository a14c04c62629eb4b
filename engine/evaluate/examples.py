"""Material for the report's example figures, as plain JSON-able data: place-recognition
queries with each encoder's top-K database photos (UrbanSTCL Fig. 3 style), and which map
rasters to draw next to the truth.
"""

from __future__ import annotations

import numpy as np

from engine.evaluate import metrics
from engine.evaluate.context import CityContext, EvalSettings


def retrieval_examples(ctx: CityContext, embeddings: dict[str, np.ndarray], s: EvalSettings,
                       n_queries: int = 4, k: int = 4) -> dict:
    """Seeded queries (last captures that have a true match) and, per encoder, the top-k
    database photos with a hit flag (within the VPR radius and heading)."""
    from engine.evaluate.tasks import _last_rank

    last = ctx.capture_rank == _last_rank(ctx)
    q_rows, d_rows = np.flatnonzero(last), np.flatnonzero(~last)
    rng = np.random.default_rng(s.seed)
    picks = np.sort(rng.choice(len(q_rows), size=min(n_queries, len(q_rows)), replace=False))
    paths = ctx.layer.frame["image"].astype(str).to_numpy()

    def hit(q: int, d: int) -> bool:
        near = np.linalg.norm(ctx.xy[q] - ctx.xy[d]) <= s.vpr_radius_m
        dh = metrics.heading_difference(ctx.heading[q:q + 1], ctx.heading[d:d + 1])[0]
        return bool(near and not dh > s.vpr_heading_deg)

    out = {"queries": [str(paths[q_rows[i]]) for i in picks], "k": int(k), "encoders": {}}
    for name, emb in embeddings.items():
        idx = metrics.cosine_neighbours(emb[q_rows[picks]], emb[d_rows], k)
        out["encoders"][name] = [
            [{"path": str(paths[d_rows[j]]), "hit": hit(int(q_rows[picks[i]]), int(d_rows[j]))}
             for j in row] for i, row in enumerate(idx)]
    return out
