"""Material for the report's example figures, as plain JSON-able data: place-recognition
queries with each encoder's top-K database photos (UrbanSTCL Fig. 3 style), and which map
rasters to draw next to the truth.
"""

from __future__ import annotations

import numpy as np

from engine.evaluate import metrics
from engine.evaluate.context import CityContext
from engine.evaluate.settings import Settings


def retrieval_examples(ctx: CityContext, embeddings: dict[str, np.ndarray], s: Settings,
                       n_queries: int = 4, k: int = 4) -> dict:
    """Seeded queries (last captures that have a true match) and, per encoder, the top-k
    database photos with a hit flag (within the VPR radius and heading)."""
    from engine.evaluate.tasks import last_capture_rank

    last = ctx.capture_rank == last_capture_rank(ctx)
    q_rows, d_rows = np.flatnonzero(last), np.flatnonzero(~last)
    rng = np.random.default_rng(s.seed)
    picks = np.sort(rng.choice(len(q_rows), size=min(n_queries, len(q_rows)), replace=False))
    paths = ctx.layer.frame["image"].astype(str).to_numpy()
    queries = q_rows[picks]
    out = {"queries": [str(paths[q]) for q in queries], "k": int(k), "encoders": {}}
    for name, emb in embeddings.items():
        found = d_rows[metrics.cosine_neighbours(emb[queries], emb[d_rows], k)]
        q = np.repeat(queries[:, None], found.shape[1], axis=1)
        hits = metrics.place_match(ctx.xy[q], ctx.xy[found], ctx.heading[q],
                                   ctx.heading[found], s.vpr_radius_m, s.vpr_heading_deg)
        out["encoders"][name] = [[{"path": str(paths[d]), "hit": bool(h)}
                                  for d, h in zip(row, hit_row, strict=True)]
                                 for row, hit_row in zip(found, hits, strict=True)]
    return out
