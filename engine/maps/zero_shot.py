"""Zero-shot maps: a head fitted on street-photo embeddings applied to the overhead embedding
field of the same cross-view model (one shared space), so the attribute is mapped everywhere,
including where no photo exists.

Modality alignment (default on): contrastive spaces keep a constant offset between the two
encoders' embeddings (the "modality gap"). The field is re-centred on the mean of the head's
training (street-photo) embeddings before the head is applied: x' = x - mean(field) +
mean(photos). Linear heads only shift by a constant, but distance-based uncertainty and k-NN
heads would otherwise see every pixel as far from the training data.

Every map carries a truth-free validity check (engine.maps.validity): the map read at the
places the head was fitted on, scored against their labels; `reliable` is False when it fails.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

VALUE_BANDS = ("prediction", "uncertainty")


def as_head(head):
    """A Head, from a Head or a head path (`<name>`, `<name>.json` or `.safetensors`), to be
    applied to a field; a fused head (fit --fuse-field) is refused: it needs a photo too."""
    from engine.heads.head import Head
    from engine.heads.io import load_head

    head = head if isinstance(head, Head) else load_head(head)
    if head.meta.get("fusion"):
        raise EngineError(f"the head of {head.meta.get('target')!r} was fitted by fit "
                          "--fuse-field on photo + overhead vectors, not on a field alone",
                          "a fused head applies only where a photo and the field both exist "
                          "(engine.maps.fusion.fused_predictions); for a field map, fit "
                          "without --fuse-field")
    return head


def head_fn(head, shift: np.ndarray | None = None, transform=None):
    """Pixel function (N, D) -> (N, 2) [prediction, uncertainty] of a regression head.

    Each vector goes through `transform(X)` first (e.g. time conditioning), then `+ shift`.
    """
    if head.task != "regression":
        raise EngineError(f"the {head.kind} head of {head.meta.get('target')!r} classifies",
                          "use `map fewshot` for class maps, or fit a ridge/knn head")

    def fn(X: np.ndarray) -> np.ndarray:
        if transform is not None:
            X = transform(X)
        if shift is not None:
            X = X + shift
        pred, unc = head.predict_with_uncertainty(X)
        return np.stack([pred, unc], axis=1)

    return fn


def modality_shift(head, field_path: str | os.PathLike[str],
                   transform=None) -> np.ndarray | None:
    """mean(head training rows) - mean(transformed field), or None when the head kept none."""
    from engine.maps.field import field_mean

    ref = head.arrays.get("scale_mean")
    if ref is None:
        log.warning("the head stores no training mean: no modality alignment")
        return None
    fm = field_mean(field_path, transform)
    if fm.shape != ref.shape:
        raise EngineError(f"the head expects {ref.shape[0]}-D features, the field "
                          f"{field_path} has {fm.shape[0]} bands",
                          "embed photos and the raster with the same model")
    return np.asarray(ref, dtype=np.float64) - fm


def zero_shot_map(head, field_path: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                  name: str = "zero_shot", polygons=None, id_field: str | None = None,
                  align: bool = True, progress: Progress = no_progress, *,
                  transform=None, kind: str = "zero_shot", extra: dict | None = None,
                  quicklook: bool = True) -> dict:
    """Apply a regression head to an embedding field: GeoTIFF (prediction, uncertainty),
    styled GPKG (grid cells; + polygons when given) and PNG quick-looks (unless `quicklook`
    is False) in `out_dir`.

    `transform(X)` maps field vectors first (the time map conditions them on a time).
    """
    from engine.maps.field import map_field
    from engine.maps.outputs import map_outputs
    from engine.maps.provenance import check
    from engine.maps.validity import check_map, tag_geotiff

    head = as_head(head)
    check(head, field_path)
    shift = modality_shift(head, field_path, transform) if align else None
    out_dir = Path(out_dir)
    tif = out_dir / f"{name}.tif"
    map_field(field_path, head_fn(head, shift, transform), tif, list(VALUE_BANDS), progress,
              kind.replace("_", "-"))
    validity = check_map(tif, head)
    tag_geotiff(tif, validity)
    target = head.meta.get("target", "value")
    meta = {"kind": kind, "target": target, "head": head.kind, "field": str(field_path),
            "modality_alignment": bool(align and shift is not None), **(extra or {}),
            "validity": validity.to_dict(), "reliable": validity.passed}
    title = f"{kind.replace('_', '-')} {target}" + (f" at {extra['datetime']}"
                                                    if extra and "datetime" in extra else "")
    title = f"{title}\n{validity.label()}"
    outputs = map_outputs(tif, out_dir, name, title, polygons, id_field, meta,
                          progress=progress, quicklook=quicklook)
    # reliable: True (check passed), False (failed: do not trust the map), None (not checked)
    return {"kind": kind, "target": target, **outputs, "validity": validity.to_dict(),
            "reliable": validity.passed}
