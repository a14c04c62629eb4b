"""Which model made a set of features, and the check that a head only meets features of the
model it was fitted on.

A head is a linear (or k-NN) map of one model's embedding space. Applied to another model's
field of the same dimension it runs without complaint and draws a confident, meaningless map.
So `fit` records what made its features (`head.meta["features"]`: the model's folder name and
identity, engine.models.folder.ModelFolder.identity; a fused head also its second view's), and
every map that applies a saved head compares that record with the tags of the field or
embeddings it is given. Files written before identities were recorded carry none: they are
let through, as before.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from engine.errors import EngineError

log = logging.getLogger(__name__)


def made_by(path: str | os.PathLike[str] | None) -> dict[str, str] | None:
    """{"model": folder name, "model_id": identity, "encoder": image | overhead | location}
    recorded in an embedding field (GeoTIFF tags) or a point-embedding GeoPackage (its
    embedding layer's metadata); None when the file records no identity."""
    if path is None or not Path(path).is_file():
        return None
    if Path(path).suffix.lower() == ".gpkg":
        from engine.export.embeddings_gpkg import read_embedding_meta
        from engine.maps.rows import embedding_layer

        meta = read_embedding_meta(path, embedding_layer(path))
        model, model_id = meta.get("model") or "", meta["extra"].get("model_id", "")
        encoder = meta["extra"].get("encoder", "")
    else:
        import rasterio

        from engine.export.geotiff import MODEL_ID_TAG

        with rasterio.open(path) as ds:
            tags = ds.tags()
        model, model_id = tags.get("GEOCONTRAST_MODEL", ""), tags.get(MODEL_ID_TAG, "")
        encoder = tags.get("GEOCONTRAST_ENCODER", "")
    return {"model": model, "model_id": model_id, "encoder": encoder} if model_id else None


def record(head: Any, features: str | os.PathLike[str] | None = None,
           second: str | os.PathLike[str] | None = None) -> None:
    """Store in `head.meta["features"]` what made the features it was fitted on (and, for a
    fused head, its second view's): the check of `check` reads it back."""
    first = made_by(features)
    if first is None:
        return
    if second is not None and (other := made_by(second)) is not None:
        first = {**first, "second": other}
    head.meta["features"] = first


def check(head: Any, path: str | os.PathLike[str], second: bool = False) -> None:
    """EngineError when `path` (a field or embeddings) was made by another model than the
    head's features (`second`: than a fused head's second view)."""
    want = head.meta.get("features") or {}
    if second:
        want = want.get("second") or {}
    _compare(head, want, made_by(path), str(path))


def check_same_encoder(head: Any, path: str | os.PathLike[str], use: str) -> None:
    """EngineError when the head was fitted on another encoder's embeddings than the field
    `path` holds (a photo head applied as it is to overhead embeddings): `use` names the map
    kind that would be right."""
    want = (head.meta.get("features") or {}).get("encoder")
    got = made_by(path)
    if not want or got is None or not got["encoder"] or got["encoder"] == want:
        return
    raise EngineError(
        f"the head of {head.meta.get('target', 'value')!r} was fitted on {want} embeddings, "
        f"and {path} holds {got['encoder']} embeddings: applied as it is, the head reads "
        "another encoder's space",
        f"{use}, or fit the head on this field (python -m engine fit --field)")


def check_model(head: Any, folder: Any) -> None:
    """EngineError when the model `folder` (engine.models.folder.ModelFolder) is not the one
    that made the head's features."""
    got = {"model": folder.name, "model_id": folder.identity, "encoder": ""}
    _compare(head, head.meta.get("features") or {}, got, f"model {folder.folder}")


def _compare(head: Any, want: dict, got: dict | None, what: str) -> None:
    if not want.get("model_id") or got is None or got["model_id"] == want["model_id"]:
        return
    target = head.meta.get("target", "value")
    raise EngineError(
        f"the head of {target!r} was fitted on features of model {want.get('model')!r} "
        f"({want['model_id']}), but {what} comes from model {got['model']!r} "
        f"({got['model_id']}): another model's features would give a meaningless map",
        f"embed with the model {want.get('model')!r} the head was fitted on, or fit the head "
        "again on these features (python -m engine fit)")
