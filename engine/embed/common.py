"""Shared bits of the embed stage: device choice, model inputs, the model's recorded sizes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError

log = logging.getLogger(__name__)

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
ENCODERS: tuple[str, ...] = ("auto", "overhead", "image")


def pick_device(device: str = "auto") -> Any:
    """torch.device for "auto" (CUDA when available, else CPU), "cpu" or "cuda"."""
    import torch

    if device not in DEVICES:
        raise EngineError(f"unknown device {device!r}", f"use one of {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise EngineError("device 'cuda' was asked for but no CUDA GPU is available",
                          "use --device cpu (or auto)")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def rgb_uint8(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C,H,W) raster values + valid mask -> (3,H,W) uint8 as the training chips are made.

    Mirrors engine.train.dataset.OverheadChips: the first three bands (one band is repeated
    to grey RGB), values clipped to 0..255 and truncated to uint8, invalid pixels 0.
    """
    rgb = data[:3] if data.shape[0] >= 3 else np.repeat(data[:1], 3, axis=0)
    with np.errstate(invalid="ignore"):  # NaN (only ever under invalid pixels) -> masked
        out = np.clip(rgb, 0, 255).astype(np.uint8)
    out *= np.asarray(valid, dtype=np.uint8)[None]
    return out


def to_model_input(batch_uint8: Any, device: Any) -> Any:
    """(B,3,H,W) uint8 tensor -> ImageNet-normalised float on `device` (train's normalize)."""
    from engine.train.augment import MEAN, STD

    x = batch_uint8.to(device, non_blocking=True).float().div_(255.0)
    return (x - MEAN.to(device)) / STD.to(device)


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


def model_input_sizes(model_dir: str | Path) -> dict[str, Any]:
    """image_size, chip_size, chip_res_m recorded in models/<name>/config.yaml (`data:`), if any;
    a zoo model's training resolution."""
    import yaml

    from engine.nn.pretrained.zoo import is_zoo_name, zoo_input_sizes

    if is_zoo_name(model_dir):
        return zoo_input_sizes(str(model_dir))

    path = Path(model_dir)
    cfg = (path if path.is_dir() else path.parent) / "config.yaml"
    try:
        doc = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in ("image_size", "chip_size", "chip_res_m") if data.get(k)}


def model_name(model_dir: str | Path) -> str:
    """A short model name for metadata: the models/<name> folder name."""
    path = Path(model_dir)
    return (path if path.is_dir() else path.parent).name
