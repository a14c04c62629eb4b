"""Fused maps at the photos: a head fitted by `fit --fuse-field` (near/remote fusion) or `fit
--fuse-embeddings` (two embeddings of the same photos) applied at every photo point where
both views exist, i.e. the photo's embedding joined with the overhead field's pixel under it
or with its second embedding, exactly as the head was fitted (no re-centring).

The output is a styled point GeoPackage layer (prediction, uncertainty, flag = beyond the
training range) and a PNG quick-look; points off the field are left out and counted.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)


def fused_head(head):
    """A Head fitted by `fit --fuse-field` or `--fuse-embeddings` (from a Head or a head
    path); other heads refused."""
    from engine.heads.head import Head
    from engine.heads.io import load_head

    head = head if isinstance(head, Head) else load_head(head)
    if not head.meta.get("fusion"):
        raise EngineError(f"the head of {head.meta.get('target')!r} was not fitted on two "
                          "views (photo + overhead, or two embeddings of the photos)",
                          "fit it with `python -m engine fit --embeddings POINTS.gpkg "
                          "--fuse-field FIELD.tif` (or --fuse-embeddings OTHER.gpkg), or map "
                          "this head with `map zero_shot` or `map predict`")
    if head.task != "regression":
        raise EngineError(f"the fused {head.kind} head of {head.meta.get('target')!r} "
                          "classifies", "fit a ridge head with --fuse-field")
    return head


def _check_dims(head, ground: int, second: int, embeddings, source) -> None:
    want = head.meta["fusion"]
    if (ground, second) != (want["ground_dim"], want["overhead_dim"]):
        raise EngineError(
            f"the fused head of {head.meta.get('target')!r} was fitted on "
            f"{want['ground_dim']}-d + {want['overhead_dim']}-d vectors; "
            f"{embeddings} holds {ground}-d and {source} {second}-d ones",
            "pass the embeddings (and field) of the models the head was fitted on")


def _second_view(head, field, fuse_embeddings) -> str:
    """"field" or "embeddings": what the caller passes, which must be what the head was
    fitted with (heads of before the key: a field)."""
    if (field is None) == (fuse_embeddings is None):
        raise EngineError("a fused map takes the head's second view: an overhead field or a "
                          "second embedding of the photos (one of them)",
                          "pass --field FIELD.tif (fit --fuse-field heads) or "
                          "--fuse-embeddings POINTS.gpkg (fit --fuse-embeddings heads)")
    given = "field" if field is not None else "embeddings"
    fitted = head.meta["fusion"].get("second_view", "field")
    if given != fitted:
        flag = "--fuse-field" if fitted == "field" else "--fuse-embeddings"
        raise EngineError(f"the fused head of {head.meta.get('target')!r} was fitted with "
                          f"{flag}, not with a second {given}",
                          f"pass {'--field' if fitted == 'field' else '--fuse-embeddings'} "
                          "as it was fitted")
    return given


def fused_points_map(head, embeddings: str | os.PathLike[str],
                     field: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str],
                     name: str = "fused", progress: Progress = no_progress,
                     fuse_embeddings: str | os.PathLike[str] | None = None) -> dict:
    """Styled point GPKG + PNG of a fused head at the photo points where both views exist
    (the field covers them, or the second embedding layer holds them)."""
    from engine.export.quicklook import quicklook_vector
    from engine.maps.field import field_info, sample_field
    from engine.maps.outputs import write_map_layer
    from engine.maps.provenance import check
    from engine.maps.rows import read_point_layer

    head = fused_head(head)
    view = _second_view(head, field, fuse_embeddings)
    check(head, embeddings)
    check(head, field if view == "field" else fuse_embeddings, second=True)
    progress(0, 1, "fused map")
    gdf, ground, _ = read_point_layer(embeddings)
    xy = np.column_stack([gdf.geometry.x.to_numpy("float64"),
                          gdf.geometry.y.to_numpy("float64")])
    if view == "field":
        _check_dims(head, ground.shape[1], int(field_info(field)["count"]), embeddings, field)
        second, _ = sample_field(field, xy, gdf.crs)
        where = f"lies on the field {field}"
    else:
        other, second, _ = read_point_layer(fuse_embeddings)
        oxy = np.column_stack([other.geometry.x.to_numpy("float64"),
                               other.geometry.y.to_numpy("float64")])
        if len(oxy) != len(xy) or not np.allclose(oxy, xy, atol=1e-6):
            raise EngineError(f"{fuse_embeddings} and {embeddings} do not hold the same photos "
                              f"({len(oxy)} vs {len(xy)} points, or other places)",
                              "embed the same photo layer with both models (embed-points)")
        _check_dims(head, ground.shape[1], second.shape[1], embeddings, fuse_embeddings)
        where = f"has an embedding in {fuse_embeddings}"
    keep = np.isfinite(second).all(axis=1) & np.isfinite(ground).all(axis=1)
    if not keep.any():
        raise EngineError(f"no photo of {embeddings} {where}",
                          "pass a field covering the photos" if view == "field" else
                          "pass embeddings of the same photos")
    n_off = int((~keep).sum())
    if n_off:
        log.warning("%d of %d photos are left out: %s", n_off, len(keep),
                    f"they lie off the overhead field {field} (or on its nodata)"
                    if view == "field" else f"they have no embedding in {fuse_embeddings}")
    both = np.concatenate([ground[keep], second[keep]], axis=1)
    pred, unc = head.predict_with_uncertainty(both)
    target = str(head.meta.get("target", "value"))
    pts = gdf.loc[keep, [gdf.geometry.name]].copy()
    pts["prediction"] = np.asarray(pred, dtype=np.float64)
    pts["uncertainty"] = np.asarray(unc, dtype=np.float64)
    pts["flag"] = head.extrapolation_flag(both, pred)
    out_dir = Path(out_dir)
    gpkg, layer = out_dir / f"{name}.gpkg", f"{name}_points"
    meta = {"kind": "fused", "target": target, "head": head.kind,
            "field": None if field is None else str(field), "embeddings": str(embeddings),
            "fuse_embeddings": None if fuse_embeddings is None else str(fuse_embeddings),
            "n_points": int(keep.sum()),
            "n_dropped": n_off, "y_range": head.meta.get("y_range"),
            "fusion": head.meta["fusion"]}
    write_map_layer(pts, gpkg, layer, "prediction", meta)
    png = out_dir / f"{name}.png"
    other = "overhead" if view == "field" else "second embedding"
    quicklook_vector(pts, "prediction", png, title=f"fused {target} (photo + {other})",
                     label=target)
    progress(1, 1, "fused map")
    return {"kind": "fused", "target": target, "gpkg": str(gpkg), "points_layer": layer,
            "png": str(png), "n_points": int(keep.sum()), "n_dropped": n_off,
            "flagged_share": float(pts["flag"].mean())}
