"""GeoModel: the image encoder plus optional overhead, location and time encoders in one space.

A checkpoint is `model.config` (JSON-able) + `model.state_dict()`; `GeoModel.from_config` rebuilds
the same architecture. All embed_* methods return L2-normalised (B, embedding_dim) except
embed_time (an additive, unnormalised offset) and features_image (backbone features).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import EngineError
from engine.nn.backbones import build_backbone
from engine.nn.config import normalize_config
from engine.nn.heads import Predictor, ProjectionHead
from engine.nn.location import build_location_encoder
from engine.nn.time_encoder import TimeEncoder


class ImageEncoder(nn.Module):
    """Backbone (features) + ProjectionHead (normalised embedding)."""

    def __init__(self, cfg: dict[str, Any], embedding_dim: int) -> None:
        super().__init__()
        self.backbone = build_backbone(cfg["backbone"], **cfg["backbone_kw"])
        self.projection = ProjectionHead(
            self.backbone.out_dim, embedding_dim, hidden_dim=cfg["hidden_dim"], bn=cfg["bn"],
            kind=cfg["projection"])
        self.feature_dim = int(self.backbone.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(self.backbone(x))


def _without_weight_files(cfg: dict[str, Any]) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    for part in ("image", "overhead"):
        if cfg[part]:
            cfg[part]["backbone_kw"].pop("weights", None)
            if cfg[part]["backbone"].startswith("zoo:"):  # zoo: random init, state_dict fills it
                cfg[part]["backbone_kw"]["weights"] = None
    return cfg


def _check_images(x: torch.Tensor, what: str) -> None:
    """(B, C, H, W) float: C is 3 for RGB encoders, the band count for overhead-only ones."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] < 1 \
            or not x.is_floating_point():
        shape = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise EngineError(f"{what} images must be a (B, C, H, W) float tensor, got {shape}",
                          hint="stack images as floats, normalised, channels first")


class GeoModel(nn.Module):
    """Geo-aware encoders sharing one embedding space of size `embedding_dim`."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__()
        cfg = normalize_config(config)
        self._config = _without_weight_files(cfg)
        self.embedding_dim: int = cfg["embedding_dim"]
        self.image_encoder = ImageEncoder(cfg["image"], self.embedding_dim)
        self.image_feature_dim = self.image_encoder.feature_dim
        self.overhead_encoder = (
            ImageEncoder(cfg["overhead"], self.embedding_dim) if cfg["overhead"] else None
        )
        loc = cfg["location"]
        self.location_encoder = (
            build_location_encoder(loc["name"], self.embedding_dim,
                                   **{k: v for k, v in loc.items() if k != "name"})
            if loc else None
        )
        self.time_encoder = TimeEncoder(self.embedding_dim, **cfg["time"]) if cfg["time"] else None
        self.predictor = (
            Predictor(self.embedding_dim, **cfg["predictor"]) if cfg["predictor"] else None
        )

    @property
    def config(self) -> dict[str, Any]:
        """The canonical JSON-able architecture (backbone weight files left out: they only
        initialise, and a checkpoint's state_dict replaces them)."""
        return copy.deepcopy(self._config)

    @classmethod
    def from_config(cls, cfg: dict[str, Any], load_pretrained: bool = True) -> GeoModel:
        """Build from a config; load_pretrained=False skips backbone weight files (checkpoints)."""
        cfg = normalize_config(cfg)
        return cls(cfg if load_pretrained else _without_weight_files(cfg))

    def features_image(self, x: torch.Tensor) -> torch.Tensor:
        """(B, image_feature_dim) backbone features before projection (for downstream heads)."""
        _check_images(x, "street-view")
        return self.image_encoder.backbone(x)

    def project_image(self, features: torch.Tensor) -> torch.Tensor:
        """Backbone features -> normalised (B, embedding_dim) embeddings."""
        return self.image_encoder.projection(features)

    def embed_image(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) street-view images -> normalised (B, embedding_dim)."""
        return self.project_image(self.features_image(x))

    def embed_overhead(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,h,w) overhead chips -> normalised (B, embedding_dim) (cross-view space)."""
        if self.overhead_encoder is None:
            raise EngineError("this model has no overhead encoder",
                              hint='add "overhead": {"backbone": "tiny_cnn"} to the model config')
        _check_images(x, "overhead")
        return self.overhead_encoder(x)

    def embed_location(self, lonlat: torch.Tensor) -> torch.Tensor:
        """(B,2) lon,lat degrees -> normalised (B, embedding_dim)."""
        if self.location_encoder is None:
            raise EngineError("this model has no location encoder",
                              hint='add "location": {"name": "sphereC"} to the model config')
        return F.normalize(self.location_encoder(lonlat), dim=1)

    def embed_time(self, feats: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B,4) time features -> (B, embedding_dim) offsets, zero where invalid or dropped."""
        if self.time_encoder is None:
            raise EngineError("this model has no time encoder",
                              hint='add "time": {"drop_p": 0.1} to the model config')
        return self.time_encoder(feats, valid)
