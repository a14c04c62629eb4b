"""Supervised maps: a head fitted on the embedding field itself (`fit --field --polygons` or
few-shot rows) applied to every field pixel, as it is: no modality re-centring (that belongs
to zero-shot maps, whose head saw another encoder's space).

Bands: prediction, uncertainty and `flag` (1 where the prediction lies beyond the training
target range by more than engine.heads.extrapolation.MARGIN; `clip` clips to the range). A
classifying head gives class_index and confidence instead. `mask` polygons (e.g. land only)
leave every pixel outside them nodata.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.heads.extrapolation import clip_to_range
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

REGRESSION_BANDS = ("prediction", "uncertainty", "flag")
CLASS_BANDS = ("class_index", "confidence")


def predict_fn(head, clip: bool = False):
    """Pixel function (N, D) -> (N, k) of a head: REGRESSION_BANDS or CLASS_BANDS."""
    if head.task == "classification":
        order = {c: i for i, c in enumerate(np.asarray(head.classes).tolist())}

        def classify(X: np.ndarray) -> np.ndarray:
            pred, unc = head.predict_with_uncertainty(X)
            return np.stack([[order[p] for p in pred], 1.0 - unc], axis=1)

        return classify
    y_range = head.meta.get("y_range")

    def regress(X: np.ndarray) -> np.ndarray:
        pred, unc = head.predict_with_uncertainty(X)
        flag = head.extrapolation_flag(X, pred)
        if clip:
            pred = clip_to_range(pred, y_range)
        return np.stack([pred, unc, flag], axis=1)

    return regress


def predict_map(head, field_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                name: str = "predict", polygons=None, id_field: str | None = None,
                clip: bool = False, mask: str | os.PathLike[str] | None = None,
                progress: Progress = no_progress) -> dict:
    """GeoTIFF (+ styled GPKG, PNG; + per-polygon layer) of `head` over the field."""
    from engine.export.fieldio import open_field
    from engine.maps.field import map_field
    from engine.maps.outputs import map_outputs
    from engine.maps.provenance import check, check_same_encoder
    from engine.maps.zero_shot import as_head

    head = as_head(head)
    check(head, field_path)
    check_same_encoder(head, field_path, "for a head fitted on photos use `map zero_shot` "
                       "(it re-centres the field and checks the map)")
    polygons_mask = None
    if mask is not None:
        from engine.embed.mask import PolygonMask

        with open_field(field_path) as ds:
            polygons_mask = PolygonMask(mask, ds.crs)
    classify = head.task == "classification"
    bands = list(CLASS_BANDS if classify else REGRESSION_BANDS)
    out_dir = Path(out_dir)
    tif = out_dir / f"{name}.tif"
    map_field(field_path, predict_fn(head, clip), tif, bands, progress, "predict",
              qml_ramp=None if classify else "viridis", mask=polygons_mask)
    target = head.meta.get("target", "value")
    meta = {"kind": "predict", "target": target, "head": head.kind, "field": str(field_path),
            "modality_alignment": False, "clip": bool(clip), "mask": str(mask) if mask else None,
            "y_range": head.meta.get("y_range"), "classes": head.meta.get("classes")}
    outputs = map_outputs(tif, out_dir, name, f"predicted {target}", polygons, id_field, meta,
                          classes=[str(c) for c in head.classes] if classify else None,
                          progress=progress)
    flagged = _flag_share(tif) if not classify else None
    if flagged:
        log.warning("%.1f%% of the mapped pixels lie beyond the training range of %s "
                    "(band 'flag'%s)", 100 * flagged, target, "; clipped" if clip else "")
    return {"kind": "predict", "target": target, **outputs, "flagged_share": flagged}


def _flag_share(tif: Path) -> float:
    import rasterio

    with rasterio.open(tif) as ds:
        flag = ds.read(3)
    ok = np.isfinite(flag)
    return float(flag[ok].mean()) if ok.any() else 0.0
