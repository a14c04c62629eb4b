"""Overhead encoder pretraining on the Landsat scene itself (no labels), as GeoSSL does on fMoW,
through the engine's own overhead-only recipes and training loop (engine.train):

* "self" (models/overhead_self.yaml): two augmented views of one chip (random shift, flips,
  rot90, band jitter, noise), SimCLR-style InfoNCE on a projection of the backbone features;
* "self+geo" (models/overhead_geossl.yaml): the same plus GeoSSL's geo pretext, a linear
  classifier on the backbone features predicting the k-means cluster of the chip centre.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.defaults import DEVICE
from engine.errors import EngineError
from engine.evaluate.landsat.data import LandsatScene
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

VARIANTS = ("self", "self+geo")


@dataclass(frozen=True)
class PretrainConfig:
    """Sizes and optimiser settings of one pretraining run."""

    variant: str = "self"
    steps: int = 300
    batch_size: int = 64
    chip_px: int = 16
    max_shift_px: int = 3
    width: int = 16
    depth: int = 3
    out_dim: int = 128
    proj_dim: int = 64
    temperature: float = 0.2
    clusters: int = 16
    geo_weight: float = 1.0
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str = DEVICE

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PretrainResult:
    """A trained (eval-mode, CPU) backbone, its per-step losses and the run's time."""

    encoder: nn.Module
    losses: list[float]
    seconds: float
    config: PretrainConfig

    def loss_first_last(self) -> tuple[float, float]:
        """Mean loss of the first and the last 10 % of the steps (at least one step each)."""
        n = max(1, len(self.losses) // 10)
        return float(np.mean(self.losses[:n])), float(np.mean(self.losses[-n:]))


def build_encoder(cfg: PretrainConfig, in_chans: int, seed: int) -> nn.Module:
    """tiny_cnn for `in_chans` bands with weights drawn from `seed` (random-init uses this)."""
    from engine.nn.backbones import build_backbone

    torch.manual_seed(int(seed))
    return build_backbone("tiny_cnn", width=cfg.width, depth=cfg.depth, out_dim=cfg.out_dim,
                          in_chans=int(in_chans))


RECIPES = {"self": "models/overhead_self.yaml", "self+geo": "models/overhead_geossl.yaml"}


def write_stack(scene: LandsatScene, path: Path) -> Path:
    """The scene's bands in their raw units as one GeoTIFF (invalid pixels NaN = nodata):
    the raster an analyst would train on."""
    from engine.export.geotiff import write_geotiff

    raw = np.stack([scene.raw(b) for b in range(scene.bands.shape[0])])
    raw[:, ~scene.valid] = np.nan
    return write_geotiff(raw, scene.crs, scene.transform, path, nodata=float("nan"),
                         band_descriptions=list(scene.band_names), cog=False)


def recipe_overrides(cfg: PretrainConfig, raster: Path, out_dir: Path) -> list[str]:
    """key=value overrides of the overhead-only recipe that give this benchmark's sizes."""
    kw = {"width": cfg.width, "depth": cfg.depth, "out_dim": cfg.out_dim}
    out = [f"data.overhead=[{raster}]", "data.chip_m=null", f"data.chip_size={cfg.chip_px}",
           f"data.max_shift_px={cfg.max_shift_px}", f"data.clusters={cfg.clusters}",
           f"model.embedding_dim={cfg.proj_dim}",
           f"model.image={{backbone: tiny_cnn, backbone_kw: {kw}, hidden_dim: {cfg.out_dim}}}",
           f"objectives.self.temperature={cfg.temperature}", f"train.steps={cfg.steps}",
           f"train.batch_size={cfg.batch_size}", f"train.lr={cfg.lr}",
           f"train.weight_decay={cfg.weight_decay}", f"train.seed={cfg.seed}",
           f"train.device={cfg.device}", "train.checkpoint_every=0",
           f"train.log_every={max(1, cfg.steps // 10)}", f"output={out_dir}"]
    if cfg.variant == "self+geo":
        out.append(f"objectives.geo_pretext.weight={cfg.geo_weight}")
    return out


def pretrain(scene: LandsatScene, cfg: PretrainConfig,
             progress: Progress = no_progress) -> PretrainResult:
    """Train cfg.variant's overhead-only recipe (models/overhead_self|geossl.yaml) on the
    scene with `python -m engine.train`'s loop: the scene is written as a raster, the run
    goes through engine.train and the registered objectives, and the trained backbone comes
    back with its per-step losses."""
    import csv
    import tempfile

    from engine.models.folder import load_model
    from engine.train.config import load_config
    from engine.train.loop import train

    if cfg.variant not in VARIANTS:
        raise EngineError(f"unknown Landsat pretraining variant {cfg.variant!r}",
                          f"use one of {', '.join(VARIANTS)}")
    if cfg.steps < 1 or cfg.batch_size < 2:
        raise EngineError(f"pretraining needs steps >= 1 and batch_size >= 2, got "
                          f"{cfg.steps}, {cfg.batch_size}", "use e.g. 300 steps of 64 chips")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="landsat-pretrain-") as tmp:
        raster = write_stack(scene, Path(tmp) / "landsat_stack.tif")
        run = Path(tmp) / "run"
        recipe = load_config(RECIPES[cfg.variant], recipe_overrides(cfg, raster, run))
        result = train(recipe, progress=progress)
        with open(run / "loss.csv", encoding="utf-8") as f:
            losses = [float(row["total"]) for row in csv.DictReader(f)]
        encoder = load_model(run).image_encoder.backbone
    secs = time.perf_counter() - t0
    res = PretrainResult(encoder.cpu().eval(), losses, secs, cfg)
    first, last = res.loss_first_last()
    log.info("Landsat pretrain %s seed %d: %d steps in %.1f s on %s, loss %.3f -> %.3f",
             cfg.variant, cfg.seed, cfg.steps, secs, result["device"], first, last)
    return res
