"""Shared bits of the embed stage: which of a model's encoders embeds a raster, and the tags
that mark an embedding field."""

from __future__ import annotations

import logging
from typing import Any

from engine.defaults import ENCODERS
from engine.errors import EngineError

log = logging.getLogger(__name__)


def pick_encoder(model: Any, encoder: str) -> str:
    """Resolve "auto" to "overhead" when the model has an overhead encoder, else "image"."""
    if encoder not in ENCODERS:
        raise EngineError(f"unknown encoder {encoder!r}", f"use one of {', '.join(ENCODERS)}")
    has_overhead = getattr(model, "overhead_encoder", None) is not None
    if encoder == "auto":
        return "overhead" if has_overhead else "image"
    if encoder == "overhead" and not has_overhead:
        raise EngineError("this model has no overhead encoder to embed a raster with",
                          "use --encoder image (the street-view encoder), or a cross-view model")
    return encoder


def input_channels(module: Any) -> int:
    """Bands an encoder takes: the input channels of its first convolution (3 if none)."""
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Conv2d):
            return int(m.in_channels)
    return 3


def field_tags(model_name: str, dim: int, encoder: str, model_id: str = "") -> dict[str, str]:
    """GDAL metadata that marks the GeoTIFF as an embedding field (engine.export.geotiff),
    with the model's identity for the heads' provenance check (engine.maps.provenance)."""
    from engine.export.geotiff import KIND_TAG, MODEL_ID_TAG

    return {KIND_TAG: "embedding_field", "GEOCONTRAST_MODEL": model_name,
            "GEOCONTRAST_DIMENSION": str(dim), "GEOCONTRAST_ENCODER": encoder,
            **({MODEL_ID_TAG: model_id} if model_id else {})}
