"""Near/remote fusion (ground + overhead): each labelled row's street-photo embedding joined
with the overhead embedding field at the same place, for one head on both views; or with a
second embedding of the same photos (fuse_embedding_rows).

Point rows take the field pixel under each photo; polygon rows (tracts) the mean of the field
over each polygon. The fused vector is [ground (D_g), overhead (D_o)] (`ground_dim` = D_g);
a ridge head on it is the stacked fusion head (engine.heads.fused_head: each view's own ridge,
combined by weights fitted on spatial out-of-fold predictions). Rows whose place has no field
value are left out (counted in `n_dropped`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import numpy as np

from engine.errors import EngineError
from engine.maps.rows import LabelledRows

log = logging.getLogger(__name__)


def overhead_at_rows(rows: LabelledRows, field: str | os.PathLike[str]) -> np.ndarray:
    """(N, D_o) field vectors at the rows' places (NaN rows where the field has no value)."""
    if rows.wkb is not None:
        import geopandas as gpd
        import shapely

        from engine.heads.aggregate import aggregate_field_file

        polys = gpd.GeoDataFrame({"row": np.arange(len(rows.wkb))},
                                 geometry=shapely.from_wkb(rows.wkb), crs=rows.xy_crs)
        agg = aggregate_field_file(field, polys)
        out = np.asarray(agg.embeddings, dtype=np.float64).copy()
        out[~np.asarray(agg.covered)] = np.nan
        return out
    from engine.maps.field import sample_field

    values, _ = sample_field(field, rows.xy, rows.xy_crs)
    return np.asarray(values, dtype=np.float64)


def _kept(rows: LabelledRows, keep: np.ndarray, X: np.ndarray, **changes) -> LabelledRows:
    """`rows` reduced to the rows `keep` marks (every per-row field, the dropped count), with
    X (already reduced) and `changes` set."""
    wkb = None if rows.wkb is None else [w for w, k in zip(rows.wkb, keep, strict=True) if k]
    return replace(rows, X=X, y=rows.y[keep], xy=rows.xy[keep],
                   groups=None if rows.groups is None else rows.groups[keep],
                   n_dropped=rows.n_dropped + int((~keep).sum()), wkb=wkb,
                   diameters=None if rows.diameters is None else rows.diameters[keep],
                   **changes)


def overhead_rows(rows: LabelledRows, field: str | os.PathLike[str]) -> LabelledRows:
    """`rows` with X = the overhead field's vectors at their places (rows off the field
    dropped): the training rows of a head fitted on the field itself (Settings.map_head
    "overhead")."""
    over = overhead_at_rows(rows, field)
    keep = np.isfinite(over).all(axis=1)
    if keep.sum() < 2:
        raise EngineError(f"only {int(keep.sum())} labelled place(s) lie on the field {field}",
                          "pass a field covering the labels")
    return _kept(rows, keep, over[keep], source=f"overhead {field}")


def fuse_rows(rows: LabelledRows, field: str | os.PathLike[str]) -> LabelledRows:
    """The rows with the overhead field's vectors appended to their ground embeddings."""
    over = overhead_at_rows(rows, field)
    keep = np.isfinite(over).all(axis=1)
    if keep.sum() < 2:
        raise EngineError(f"only {int(keep.sum())} labelled place(s) lie on the field {field}",
                          "pass --fuse-field with an embedding field covering the labels")
    if (~keep).any():
        log.warning("%d of %d labelled places have no overhead value and are left out",
                    int((~keep).sum()), len(keep))
    X = np.concatenate([np.asarray(rows.X, np.float64)[keep], over[keep]], axis=1)
    return _kept(rows, keep, X, source=f"{rows.source} + overhead {field}",
                 ground_dim=int(np.asarray(rows.X).shape[1]))


def fuse_embedding_rows(rows: LabelledRows, other: LabelledRows) -> LabelledRows:
    """The rows with a second embedding of the same photos (or polygons) appended: e.g. the
    frozen backbone's features next to a geographic recipe's adapter embedding (the
    benchmark's adapted tasks). Both must hold the same labelled places in the same order
    (two embed-points runs over one photo layer); rows missing in either are left out."""
    if len(other.y) != len(rows.y) or not np.allclose(other.xy, rows.xy, atol=1e-6):
        raise EngineError(f"{other.source} and {rows.source} do not hold the same labelled "
                          f"places ({len(other.y)} vs {len(rows.y)} rows, or other points)",
                          "embed the same photo layer with both models (embed-points), then "
                          "pass one as --embeddings and the other as --fuse-embeddings")
    A, B = np.asarray(rows.X, np.float64), np.asarray(other.X, np.float64)
    keep = np.isfinite(A).all(axis=1) & np.isfinite(B).all(axis=1)
    if keep.sum() < 2:
        raise EngineError(f"only {int(keep.sum())} labelled place(s) have both embeddings",
                          "check that both layers hold embeddings for the labelled photos")
    return _kept(rows, keep, np.concatenate([A[keep], B[keep]], axis=1),
                 source=f"{rows.source} + {other.source}", ground_dim=int(A.shape[1]),
                 second_view="embeddings")


def fused_predictions(head, rows: LabelledRows, field: str | os.PathLike[str]
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, uncertainty) of a fused head (fit --fuse-field) at the rows whose place
    the field covers, i.e. where ground and overhead both exist, and the fused rows' xy."""
    fused = fuse_rows(rows, field)
    pred, unc = head.predict_with_uncertainty(fused.X)
    return np.column_stack([pred, unc]), fused.xy
