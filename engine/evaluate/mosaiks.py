"""MOSAIKS (Rolf et al. 2021): random convolutional features, the standard overhead baseline
for socioeconomic prediction. No training, no labels.

K patches of 3 x 3 x 3 pixels are drawn (seeded) from the first images the embedder sees and
ZCA-whitened; each image is convolved with them (the input whitened the same way, folded into
the weights), passed through ReLU(z - b) and ReLU(-z - b) and average-pooled: 2K features.
Filters for street photos and for overhead chips are drawn separately, each from its own kind.
"""

from __future__ import annotations

import logging

import numpy as np

from engine.errors import EngineError
from engine.evaluate.chip_batches import embed_rgb_chips

log = logging.getLogger(__name__)

NAME = "mosaiks"


class MosaiksEmbedder:
    """Random convolutional features: photos or (N, 3, H, W) uint8 chips -> (N, 2K) float32."""

    model = None  # not a GeoModel
    has_overhead = True

    def __init__(self, num_filters: int = 512, patch: int = 3, bias: float = 1.0,
                 image_size: int = 64, seed: int = 0, batch_size: int = 64,
                 name: str = NAME, whiten_eps: float = 1e-2) -> None:
        if num_filters < 1 or patch < 1 or image_size < patch:
            raise EngineError(f"MOSAIKS needs num_filters >= 1 and image_size >= patch, got "
                              f"{num_filters}, {patch}, {image_size}", "use e.g. 512, 3, 64")
        self.num_filters, self.patch, self.bias = int(num_filters), int(patch), float(bias)
        self.image_size, self.seed, self.batch_size = int(image_size), int(seed), int(batch_size)
        self.name, self.eps = name, float(whiten_eps)
        self.feature_dim = 2 * self.num_filters
        self._filters: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _fit(self, kind: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(weights (K, 3, p, p), bias (K,)) from patches of `images` (N, 3, H, W) in 0..1."""
        if kind in self._filters:
            return self._filters[kind]
        rng = np.random.default_rng([self.seed, 0 if kind == "photo" else 1])
        n, _, h, w = images.shape
        p, k = self.patch, self.num_filters
        idx, ys, xs = rng.integers(0, n, k), rng.integers(0, h - p + 1, k), \
            rng.integers(0, w - p + 1, k)
        patches = np.stack([images[i, :, y:y + p, x:x + p].reshape(-1)
                            for i, y, x in zip(idx, ys, xs, strict=True)]).astype(np.float64)
        mu = patches.mean(axis=0)
        cov = np.cov(patches - mu, rowvar=False)
        vals, vecs = np.linalg.eigh(cov)
        zca = vecs @ np.diag(1.0 / np.sqrt(np.maximum(vals, 0) + self.eps)) @ vecs.T
        filters = (patches - mu) @ zca  # whitened patches
        filters /= np.linalg.norm(filters, axis=1, keepdims=True) + 1e-12
        weight = filters @ zca  # (x - mu) @ zca . f  ==  x . (zca f) - mu . (zca f)
        offset = weight @ mu
        self._filters[kind] = (weight.reshape(k, 3, p, p).astype(np.float32),
                               offset.astype(np.float32))
        return self._filters[kind]

    def _features(self, kind: str, batch_uint8: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(batch_uint8)).float().div_(255.0)
        weight, offset = self._fit(kind, x.numpy())
        with torch.inference_mode():
            z = F.conv2d(x, torch.from_numpy(weight)) - torch.from_numpy(offset).view(1, -1, 1, 1)
            pos = F.relu(z - self.bias).mean(dim=(2, 3))
            neg = F.relu(-z - self.bias).mean(dim=(2, 3))
        return torch.cat([pos, neg], dim=1).numpy().astype(np.float32)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, 2K) features of (N, 3, H, W) uint8 overhead chips."""
        return embed_rgb_chips(chips, self.batch_size, self.feature_dim,
                               lambda batch: self._features("chip", batch))

    def embed_photos(self, paths: list[str]) -> np.ndarray:
        """(N, 2K) features of the photos, resized to image_size."""
        from engine.data.images import load_image

        out = [np.zeros((0, self.feature_dim), np.float32)]
        for i in range(0, len(paths), self.batch_size):
            batch = np.stack([load_image(p, self.image_size) for p in paths[i:i + self.batch_size]])
            out.append(self._features("photo", np.transpose(batch, (0, 3, 1, 2))))
        return np.concatenate(out)
