"""Model inputs: uint8 RGB pixels -> the ImageNet-normalised floats every backbone expects.

Training chips, embedding chips and photos all go through `normalize_uint8`, so a model sees
the same numbers at training and at inference time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def normalize_uint8(x: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) (or (3,H,W)) -> ImageNet-normalised float, as the backbones expect."""
    mean, std = MEAN.to(x.device), STD.to(x.device)
    if x.ndim == 3:
        mean, std = mean[0], std[0]
    return (x.float() / 255.0 - mean) / std


def to_model_input(batch_uint8: torch.Tensor, device: Any) -> torch.Tensor:
    """(B,3,H,W) uint8 tensor -> ImageNet-normalised float on `device`."""
    return normalize_uint8(batch_uint8.to(device, non_blocking=True))


def rgb_uint8(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(C,H,W) raster values + valid mask -> (3,H,W) uint8 as the training chips are made.

    The first three bands (one band is repeated to grey RGB), values clipped to 0..255 and
    truncated to uint8, invalid pixels 0.
    """
    rgb = data[:3] if data.shape[0] >= 3 else np.repeat(data[:1], 3, axis=0)
    with np.errstate(invalid="ignore"):  # NaN (only ever under invalid pixels) -> masked
        out = np.clip(rgb, 0, 255).astype(np.uint8)
    out *= np.asarray(valid, dtype=np.uint8)[None]
    return out
