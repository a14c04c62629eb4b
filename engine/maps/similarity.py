"""Similarity maps: "places like these" from a few example points, no head.

The examples' embeddings (sampled from the field at the points, or the nearest point
embeddings) are L2-normalised and averaged; each pixel (or point) gets the cosine similarity
to that mean (minus the similarity to the mean negative example when negatives are given).
Band 2 ("spread") is the standard deviation of the similarities to the individual examples:
high where the examples disagree about a place.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.maps.field import l2_normalize
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

SNAP_MIN_M = 250.0  # an example snaps to the nearest photo within this distance, at least
SNAP_SPACINGS = 5.0  # ... or within this many median photo spacings


def example_vectors(xy: np.ndarray, crs, field_path=None, points=None,
                    what: str = "positive") -> np.ndarray:
    """Normalised embeddings (K, D) at example points x, y in `crs`: field pixels, or the
    nearest embedded point of `points` = (GeoDataFrame, X)."""
    from engine.maps.field import sample_field

    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        raise EngineError(f"no {what} example given", "give at least one example point")
    if field_path is not None:
        from engine.export.fieldio import require_field

        require_field(field_path)
        X, valid = sample_field(field_path, xy, crs)
        if not valid.any():
            raise EngineError(f"none of the {len(xy)} {what} examples falls on the field "
                              f"{field_path}", "pick examples inside the embedded area "
                              "(and give their CRS)")
        if (~valid).any():
            log.warning("%d %s example(s) fall outside the field and are ignored",
                        int((~valid).sum()), what)
        return l2_normalize(X[valid])
    gdf, X = points
    return l2_normalize(X[snap_to_points(xy, crs, gdf, what)])


def snap_to_points(xy: np.ndarray, crs, gdf, what: str = "positive") -> np.ndarray:
    """Row of the nearest point of `gdf` to each example; EngineError when an example is
    farther than max(SNAP_MIN_M, SNAP_SPACINGS x the median photo spacing) from any point."""
    from scipy.spatial import cKDTree

    from engine.data.crs import transform_xy
    from engine.maps.rows import metric_xy

    own, metric = metric_xy(gdf)
    ex = transform_xy(xy, crs if crs is not None else gdf.crs, metric)
    tree = cKDTree(own)
    dist, rows = tree.query(ex)
    spacing = float(np.median(tree.query(own, k=2)[0][:, 1])) if len(own) > 1 else 0.0
    limit = max(SNAP_MIN_M, SNAP_SPACINGS * spacing)
    far = ~(dist <= limit)
    if far.any():
        i = int(np.flatnonzero(far)[0])
        raise EngineError(f"{what} example {tuple(float(v) for v in xy[i])} is "
                          f"{dist[i] / 1000:.3g} km from the nearest embedded photo "
                          f"(limit {limit:.0f} m)",
                          "give --positive/--negative points near the photos, in the CRS "
                          "named by --crs")
    return rows


def similarity_fn(pos: np.ndarray, neg: np.ndarray | None = None):
    """Pixel function (N, D) -> (N, 2) [similarity, spread]."""
    mean_pos = l2_normalize(pos.mean(axis=0, keepdims=True))[0]
    mean_neg = None if neg is None or len(neg) == 0 else \
        l2_normalize(neg.mean(axis=0, keepdims=True))[0]

    def fn(X: np.ndarray) -> np.ndarray:
        Z = l2_normalize(X)
        sim = Z @ mean_pos
        if mean_neg is not None:
            sim = sim - Z @ mean_neg
        spread = (Z @ pos.T).std(axis=1) if len(pos) > 1 else np.zeros(len(Z))
        return np.stack([sim, spread], axis=1)

    return fn


def similarity_map(out_dir: str | os.PathLike[str], positives_xy: np.ndarray, crs,
                   negatives_xy: np.ndarray | None = None, field_path=None,
                   embeddings=None, name: str = "similarity",
                   progress: Progress = no_progress) -> dict:
    """Similarity to the examples over an embedding field (GeoTIFF + cells GPKG + PNG) or
    over point embeddings (`embeddings` = point-embedding GPKG: points GPKG + PNG)."""
    from engine.export.quicklook import quicklook_vector
    from engine.maps.field import map_field
    from engine.maps.outputs import map_outputs, write_map_layer

    if (field_path is None) == (embeddings is None):
        raise EngineError("a similarity map needs one embedding source",
                          "pass --field FIELD.tif or --embeddings POINTS.gpkg")
    points = None
    if embeddings is not None:
        from engine.maps.rows import read_point_layer

        gdf, X, _ = read_point_layer(embeddings)
        points = (gdf, X)
    pos = example_vectors(positives_xy, crs, field_path, points, "positive")
    neg = None
    if negatives_xy is not None and len(negatives_xy):
        neg = example_vectors(negatives_xy, crs, field_path, points, "negative")
    fn = similarity_fn(pos, neg)
    out_dir = Path(out_dir)
    meta = {"kind": "similarity", "positives": int(len(pos)),
            "negatives": 0 if neg is None else int(len(neg))}
    if field_path is not None:
        tif = out_dir / f"{name}.tif"
        map_field(field_path, fn, tif, ["similarity", "spread"], progress, "similarity")
        outputs = map_outputs(tif, out_dir, name, "similarity to the examples",
                              metadata=meta, progress=progress)
        return {"kind": "similarity", **meta, **outputs}
    gdf, X = points
    vals = fn(X)
    keep = [c for c in gdf.columns if c in ("photo_id", "location_id", "image")]
    out = gdf[keep + [gdf.geometry.name]].copy()
    out["similarity"], out["spread"] = vals[:, 0], vals[:, 1]
    gpkg = out_dir / f"{name}.gpkg"
    write_map_layer(out, gpkg, f"{name}_points", "similarity", meta)
    png = quicklook_vector(out, "similarity", out_dir / f"{name}.png",
                           title="similarity to the examples")
    return {"kind": "similarity", **meta, "gpkg": str(gpkg), "png": str(png),
            "points_layer": f"{name}_points"}
