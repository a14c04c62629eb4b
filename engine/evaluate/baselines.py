"""Embedders the benchmark compares: a trained GeoModel, a random-init model of the same
architecture, and raw pixels (per-channel mean/std + 8-bin colour histograms).

Every embedder maps photo paths -> (N, D) float32 and, when it can, overhead chips
(N, 3, H, W) uint8 -> (N, D) float32; `model` is the GeoModel behind it (or None).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from engine.errors import EngineError

log = logging.getLogger(__name__)

HIST_BINS = 8
# the baselines' encoder names in result rows and claims
RANDOM = "random-init"
PIXELS = "raw pixels"
COORDS = "raw x,y (RBF)"
IMAGENET = "imagenet effnet-lite0"
MOSAIKS = "mosaiks"  # random convolutional features (engine.evaluate.mosaiks)


def untrained(recipe: str) -> str:
    """The encoder name of `recipe` untrained: its ImageNet backbone with random adapters."""
    return f"{recipe} untrained"


class ModelEmbedder:
    """A GeoModel's street-photo (and overhead, when it has one) embeddings on the CPU."""

    def __init__(self, model: Any, name: str, image_size: int = 64, batch_size: int = 64,
                 shared: dict | None = None) -> None:
        self.model = model.eval()
        self.name = name
        self.image_size = int(image_size)
        self.batch_size = int(batch_size)
        # backbone features of pretrained (zoo) backbones, shared by every model whose
        # backbone weights are the same (the frozen recipes of every seed): one pass per city
        self.shared = shared

    @property
    def has_overhead(self) -> bool:
        return getattr(self.model, "overhead_encoder", None) is not None

    def embed_photos(self, paths: list[str]) -> np.ndarray:
        """(N, D) float32 embeddings of the photos; EngineError naming a photo that fails."""
        key = self._shared_key(paths)
        if key is None:
            return _embed_all(self.model, paths, self.batch_size, self.image_size)
        if key not in self.shared:
            self.shared[key] = _embed_all(_BackboneView(self.model), paths, self.batch_size,
                                          self.image_size)
        else:
            log.info("%s: reusing the backbone features of its pretrained backbone", self.name)
        return _project(self.model, self.shared[key], self.batch_size)

    def _shared_key(self, paths: list[str]) -> tuple | None:
        """The store key of this model's backbone features, or None (not shared): only
        pretrained zoo backbones, keyed as the training feature cache keys them (class and
        weights), with the image size and the photos."""
        from engine.nn.zoo_backbone import ZooBackbone
        from engine.train.feature_cache import backbone_key

        backbone = self.model.image_encoder.backbone
        if self.shared is None or not any(isinstance(m, ZooBackbone)
                                          for m in backbone.modules()):
            return None
        return backbone_key(backbone), self.image_size, hash(tuple(paths))

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, D) float32 overhead embeddings of (N, 3, H, W) uint8 chips."""
        import torch

        from engine.models.device import resolve_device
        from engine.models.inputs import to_model_input

        if not self.has_overhead:
            raise EngineError(f"{self.name} has no overhead encoder",
                              "cross-view tasks need a cross-view model (models/crossview*)")
        out = []
        dev = resolve_device("auto")
        self.model.to(dev)
        with torch.inference_mode():
            for i in range(0, len(chips), self.batch_size):
                x = to_model_input(torch.from_numpy(np.ascontiguousarray(
                    chips[i:i + self.batch_size])), dev)
                out.append(self.model.embed_overhead(x).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)


class _BackboneView(torch.nn.Module):
    """A GeoModel seen through its image backbone: `embed_image` gives backbone features. A
    module holding the model, so the CPU runtimes export it with its weights."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.embedding_dim = int(model.image_encoder.feature_dim)

    def modules(self) -> Any:  # what engine.embed.accel inspects: the backbone
        return self.model.image_encoder.backbone.modules()

    def embed_image(self, x: Any) -> Any:
        return self.model.features_image(x)


def _embed_all(model: Any, paths: list[str], batch_size: int, image_size: int) -> np.ndarray:
    """(N, D) float32 `model.embed_image` of every photo, in order; EngineError on a bad one."""
    from engine.embed.points import embed_images

    rows, emb, errors = embed_images(model, list(paths), batch_size=batch_size,
                                     image_size=image_size, num_workers=0, device="auto")
    if errors:
        row, err = errors[0]
        raise EngineError(f"photo {paths[row]} could not be embedded: {err}",
                          "regenerate the sample city or fix the photo")
    return emb[np.argsort(rows)]


def _project(model: Any, features: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, D) float32 embeddings from (N, F) backbone features (the model's projection)."""
    out, step = [], max(batch_size, 256)  # the projection is cheap: larger batches
    with torch.inference_mode():
        dev = next(model.parameters()).device
        for i in range(0, len(features), step):
            x = torch.from_numpy(features[i:i + step]).to(dev)
            out.append(model.project_image(x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def random_init_embedder(model_config: dict, seed: int, name: str = RANDOM,
                         image_size: int = 64, keep_pretrained: bool = False) -> ModelEmbedder:
    """A GeoModel of `model_config`'s architecture with seeded random weights (no training);
    `keep_pretrained`: zoo backbones keep their ImageNet weights (the untrained starting point
    of a pretrained recipe: only its adapters are random)."""
    import copy

    from engine.nn.model import GeoModel

    cfg = copy.deepcopy(model_config)
    if keep_pretrained:
        for part in ("image", "overhead"):
            spec = cfg.get(part)
            if spec and str(spec.get("backbone", "")).startswith("zoo:"):
                spec.setdefault("backbone_kw", {})["weights"] = "imagenet"
    torch.manual_seed(int(seed))
    model = GeoModel.from_config(cfg, load_pretrained=keep_pretrained)
    return ModelEmbedder(model, name, image_size)


def has_pretrained_backbone(model_config: dict) -> bool:
    """Whether an encoder of `model_config` starts from a zoo (ImageNet) backbone."""
    return any(str((model_config.get(p) or {}).get("backbone", "")).startswith("zoo:")
               for p in ("image", "overhead"))


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(N, 30) float32: per-channel mean and std (0..1) and 8-bin histograms (shares).

    `images` is (N, H, W, 3) uint8.
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise EngineError(f"raw-pixel features need (N, H, W, 3) images, got {x.shape}",
                          "pass RGB images")
    flat = x.reshape(len(x), -1, 3).astype(np.float64) / 255.0
    mean, std = flat.mean(axis=1), flat.std(axis=1)
    bins = np.minimum((flat * HIST_BINS).astype(np.int64), HIST_BINS - 1)
    hist = np.stack([np.stack([(bins[:, :, c] == b).mean(axis=1) for b in range(HIST_BINS)],
                              axis=1) for c in range(3)], axis=1).reshape(len(x), -1)
    return np.concatenate([mean, std, hist], axis=1).astype(np.float32)


class RawPixelEmbedder:
    """Colour statistics of the pixels: the no-learning baseline (same for photos and chips)."""

    model = None
    has_overhead = True

    def __init__(self, image_size: int = 64, name: str = PIXELS) -> None:
        self.image_size = int(image_size)
        self.name = name

    def embed_photos(self, paths: list[str]) -> np.ndarray:
        """(N, 30) colour statistics of the photos (resized to image_size)."""
        from engine.data.images import load_image

        feats = [pixel_features(load_image(p, self.image_size)[None]) for p in paths]
        return np.concatenate(feats) if feats else np.zeros((0, 6 + 3 * HIST_BINS), np.float32)

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """(N, 30) colour statistics of (N, 3, H, W) uint8 chips."""
        return pixel_features(np.transpose(np.asarray(chips), (0, 2, 3, 1)))
