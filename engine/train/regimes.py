"""Training regimes: which backbone weights train, and how the backbones run.

* `full`: everything trains (the default; a GPU's job for a pretrained backbone).
* `partial`: the last `train.trainable_blocks` blocks of each backbone train, the earlier ones
  are frozen, and every BatchNorm of the backbones keeps its pretrained statistics (eval mode).
* `frozen`: no backbone weight trains and no backbone runs during training: features are
  computed once (train.cached_views views per photo and per chip) and read from the disk
  cache (engine.train.feature_cache); only projections/adapters, location and time encoders,
  predictors and objective heads train, so thousands of steps run in minutes on a CPU.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import EngineError
from engine.paths import resolve_path
from engine.progress import Progress, no_progress
from engine.train.config import Config

log = logging.getLogger(__name__)

REGIMES = ("full", "partial", "frozen")


def backbones(model: nn.Module) -> list[nn.Module]:
    """The image backbone and, when the model has one, the overhead backbone."""
    out = [model.image_encoder.backbone]
    if getattr(model, "overhead_encoder", None) is not None:
        out.append(model.overhead_encoder.backbone)
    return out


def blocks(backbone: nn.Module) -> list[nn.Module]:
    """A backbone's units in input-to-output order (its own `blocks()` when it has one, else
    its parameterised leaf layers)."""
    if hasattr(backbone, "blocks") and callable(backbone.blocks):
        return list(backbone.blocks())
    return [m for m in backbone.modules()
            if not list(m.children()) and any(True for _ in m.parameters(recurse=False))]


def apply_regime(model: nn.Module, regime: str, trainable_blocks: int = 2) -> dict[str, int]:
    """Set requires_grad of the backbones for `regime`; returns trainable/frozen counts."""
    if regime not in REGIMES:
        raise EngineError(f"unknown training regime {regime!r}",
                          f"set train.regime to one of: {', '.join(REGIMES)}")
    for backbone in backbones(model):
        if regime == "full":
            continue
        backbone.requires_grad_(False)
        if regime == "partial":
            units = blocks(backbone)
            for unit in units[max(0, len(units) - trainable_blocks):]:
                unit.requires_grad_(True)
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    log.info("regime %s: %d trainable, %d frozen parameters", regime, n_train, n_frozen)
    return {"trainable_parameters": n_train, "frozen_parameters": n_frozen}


def train_mode(module: nn.Module, model: nn.Module, regime: str) -> None:
    """module.train(), but backbones keep their BatchNorm statistics in partial and frozen."""
    module.train()
    if regime == "full":
        return
    for backbone in backbones(model):
        for m in backbone.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def precompute(cfg: Config, model: nn.Module, dataset: Any, device: torch.device,
               progress: Progress = no_progress) -> dict[str, Any]:
    """Fill (or read) the feature caches for every photo and chip the dataset can draw, and
    switch the dataset to serve features; returns facts for the model card."""
    from engine.train.dataset import IMAGE_KEYS
    from engine.train.feature_cache import FeatureCache, chip_views, photo_key, photo_views

    root = resolve_path(cfg.train.feature_cache)
    views = cfg.train.cached_views
    src, keys = dataset.sources, dataset.keys
    info: dict[str, Any] = {"feature_cache": str(root), "cached_views": views}
    photo_feats = chip_feats = None
    if keys & set(IMAGE_KEYS):
        rows = dataset.photos_needed()
        paths = [src.images[i] for i in rows]
        cache = FeatureCache(root, model.image_encoder.backbone, "photo", cfg.data.image_size,
                             views)
        pano = [None if src.views is None else tuple(src.views[i]) for i in rows]
        content = [photo_key(p, v, cfg.data.resize) for p, v in zip(paths, pano, strict=True)]
        feats = cache.features(
            content, lambda i: photo_views(dataset.cache.get(paths[i], pano[i]), content[i],
                                           views), device, progress)
        photo_feats = _scatter(feats, rows, len(src.images))
        info.update(photo_rows=len(rows), photo_rows_computed=cache.computed,
                    photo_cache=cache.path.name)
    if "overhead" in keys:
        if model.overhead_encoder is None:
            raise EngineError("the objectives need overhead chips but the model has no overhead "
                              "encoder", "add `overhead:` to the recipe's model section")
        rows = dataset.anchors
        chips = [src.overhead.chip(int(src.pairs.crossview_date[i]), int(i)) for i in rows]
        cache = FeatureCache(root, model.overhead_encoder.backbone, "chip", cfg.data.chip_size,
                             views)
        from engine.train.feature_cache import pixels_key

        content = [pixels_key(c) for c in chips]
        feats = cache.features(content, lambda i: chip_views(chips[i], views), device, progress)
        chip_feats = _scatter(feats, rows, len(src.images))
        info.update(chip_rows=len(rows), chip_rows_computed=cache.computed,
                    chip_cache=cache.path.name)
    tables = [t for t in (photo_feats, chip_feats) if t is not None]
    nbytes = sum(t.numel() * t.element_size() for t in tables)
    home = feature_home(device, nbytes)
    log.info("feature tables: %.1f MiB, kept on %s", nbytes / 2**20, home)
    dataset.use_features(*(None if t is None else t.to(home) for t in (photo_feats, chip_feats)))
    info["feature_device"] = str(home)
    return info


def feature_home(device: torch.device, nbytes: int) -> torch.device:
    """Where the frozen regime keeps its feature tables (`nbytes` in all): on a GPU that
    trains, when they take at most half of its free memory, so that a batch is a gather on
    the GPU and only its row numbers cross from the host; else in host memory. Gathered on
    the host, a batch of the frozen Lite0 adapters (128 x 1,280 floats a view) went through
    a loader and a copy to the GPU each step: 0.81 of pure compute on an H200 (fp32,
    docs/PERFORMANCE.md)."""
    if device.type != "cuda":
        return torch.device("cpu")
    free, _ = torch.cuda.mem_get_info(device)
    return device if nbytes <= free // 2 else torch.device("cpu")


def _scatter(feats: torch.Tensor, rows: np.ndarray, n: int) -> torch.Tensor:
    """(len(rows), V, D) -> (n, V, D) aligned with the layer's photos (zeros elsewhere)."""
    out = torch.zeros((n, *feats.shape[1:]), dtype=feats.dtype)
    out[torch.as_tensor(np.asarray(rows, dtype=np.int64))] = feats
    return out
