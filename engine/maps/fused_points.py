"""Fused maps at the photos (near/remote fusion): a head fitted by `fit --fuse-field` applied
at every photo point where both views exist, i.e. the photo's embedding joined with the
overhead field's pixel under it, exactly as the head was fitted (no re-centring).

The output is a styled point GeoPackage layer (prediction, uncertainty, flag = beyond the
training range) and a PNG quick-look; points off the field are left out and counted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.heads.extrapolation import out_of_range
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def fused_head(head):
    """A Head fitted by `fit --fuse-field` (from a Head or a head path); other heads refused."""
    from engine.heads.head import Head
    from engine.heads.io import load_head

    head = head if isinstance(head, Head) else load_head(head)
    if not head.meta.get("fusion"):
        raise EngineError(f"the head of {head.meta.get('target')!r} was not fitted on photo "
                          "+ overhead vectors",
                          "fit it with `python -m engine fit --embeddings POINTS.gpkg "
                          "--fuse-field FIELD.tif`, or map this head with `map zero_shot` "
                          "or `map predict`")
    if head.task != "regression":
        raise EngineError(f"the fused {head.kind} head of {head.meta.get('target')!r} "
                          "classifies", "fit a ridge head with --fuse-field")
    return head


def _check_dims(head, ground: int, overhead: int, embeddings, field) -> None:
    want = head.meta["fusion"]
    if (ground, overhead) != (want["ground_dim"], want["overhead_dim"]):
        raise EngineError(
            f"the fused head of {head.meta.get('target')!r} was fitted on "
            f"{want['ground_dim']}-d photo + {want['overhead_dim']}-d overhead vectors; "
            f"{embeddings} holds {ground}-d and {field} {overhead}-d ones",
            "pass the photo embeddings and the field of the model the head was fitted on")


def fused_points_map(head, embeddings: str | os.PathLike[str],
                     field: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                     name: str = "fused", progress: Progress = no_progress) -> dict:
    """Styled point GPKG + PNG of a fused head at the photo points the field covers."""
    from engine.export.quicklook import quicklook_vector
    from engine.maps.field import field_info, sample_field
    from engine.maps.outputs import write_map_layer
    from engine.maps.rows import read_point_layer

    head = fused_head(head)
    progress(0, 1, "fused map")
    gdf, ground, _ = read_point_layer(embeddings)
    _check_dims(head, ground.shape[1], int(field_info(field)["count"]), embeddings, field)
    xy = np.column_stack([gdf.geometry.x.to_numpy("float64"),
                          gdf.geometry.y.to_numpy("float64")])
    over, _ = sample_field(field, xy, gdf.crs)
    keep = np.isfinite(over).all(axis=1) & np.isfinite(ground).all(axis=1)
    if not keep.any():
        raise EngineError(f"no photo of {embeddings} lies on the field {field}",
                          "pass a field covering the photos")
    n_off = int((~keep).sum())
    if n_off:
        log.warning("%d of %d photos have no overhead value and are left out", n_off,
                    len(keep))
    pred, unc = head.predict_with_uncertainty(np.concatenate([ground[keep], over[keep]],
                                                             axis=1))
    target = str(head.meta.get("target", "value"))
    pts = gdf.loc[keep, [gdf.geometry.name]].copy()
    pts["prediction"] = np.asarray(pred, dtype=np.float64)
    pts["uncertainty"] = np.asarray(unc, dtype=np.float64)
    pts["flag"] = out_of_range(pred, head.meta.get("y_range"))
    out_dir = Path(out_dir)
    gpkg, layer = out_dir / f"{name}.gpkg", f"{name}_points"
    meta = {"kind": "fused", "target": target, "head": head.kind, "field": str(field),
            "embeddings": str(embeddings), "n_points": int(keep.sum()),
            "n_dropped": n_off, "y_range": head.meta.get("y_range"),
            "fusion": head.meta["fusion"]}
    write_map_layer(pts, gpkg, layer, "prediction", meta)
    png = out_dir / f"{name}.png"
    quicklook_vector(pts, "prediction", png, title=f"fused {target} (photo + overhead)",
                     label=target)
    progress(1, 1, "fused map")
    return {"kind": "fused", "target": target, "gpkg": str(gpkg), "points_layer": layer,
            "png": str(png), "n_points": int(keep.sum()), "n_dropped": n_off,
            "flagged_share": float(pts["flag"].mean())}
