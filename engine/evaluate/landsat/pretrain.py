"""Overhead encoder pretraining on the Landsat scene itself (no labels), as GeoSSL does on fMoW:

* "self": two augmented views of one chip (random shift, flips, rot90, band jitter, noise),
  SimCLR-style InfoNCE on an MLP projection of the backbone features;
* "self+geo": the same plus GeoSSL's geo pretext, a linear classifier on the backbone
  features predicting the k-means cluster of the chip centre's x, y (cross-entropy).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from engine.defaults import DEVICE
from engine.errors import EngineError
from engine.evaluate.landsat.chips import ChipGrid, augment
from engine.evaluate.landsat.data import LandsatScene
from engine.models.device import resolve_device
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


def geo_clusters(xy: np.ndarray, k: int, seed: int, fit_rows: int = 5000) -> np.ndarray:
    """k-means cluster id (int64) of every x, y row; fitted on a seeded subsample."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    fit = xy[rng.choice(len(xy), size=min(fit_rows, len(xy)), replace=False)]
    km = KMeans(n_clusters=int(k), n_init=3, random_state=int(seed)).fit(fit)
    return km.predict(xy).astype(np.int64)


def _heads(cfg: PretrainConfig) -> nn.ModuleDict:
    heads = nn.ModuleDict({"proj": nn.Sequential(nn.Linear(cfg.out_dim, cfg.out_dim),
                                                 nn.ReLU(inplace=True),
                                                 nn.Linear(cfg.out_dim, cfg.proj_dim))})
    if cfg.variant == "self+geo":
        heads["geo"] = nn.Linear(cfg.out_dim, cfg.clusters)
    return heads


def pretrain(scene: LandsatScene, cfg: PretrainConfig,
             progress: Progress = no_progress) -> PretrainResult:
    """Train a tiny_cnn on random valid chips of `scene` with cfg.variant's objective."""
    from engine.objectives.infonce import info_nce

    if cfg.variant not in VARIANTS:
        raise EngineError(f"unknown Landsat pretraining variant {cfg.variant!r}",
                          f"use one of {', '.join(VARIANTS)}")
    if cfg.steps < 1 or cfg.batch_size < 2:
        raise EngineError(f"pretraining needs steps >= 1 and batch_size >= 2, got "
                          f"{cfg.steps}, {cfg.batch_size}", "use e.g. 300 steps of 64 chips")
    t0 = time.perf_counter()
    dev = resolve_device(cfg.device)
    rows, cols = np.nonzero(scene.valid)
    cluster = None
    if cfg.variant == "self+geo":
        cluster = torch.from_numpy(geo_clusters(scene.xy(rows, cols), cfg.clusters, cfg.seed))
    grid = ChipGrid(scene, pad=cfg.chip_px + cfg.max_shift_px, device=dev)
    encoder = build_encoder(cfg, scene.bands.shape[0], cfg.seed).to(dev)
    heads = _heads(cfg).to(dev)
    params = list(encoder.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.steps)
    gen = torch.Generator().manual_seed(int(cfg.seed) + 1)
    r_all, c_all = torch.from_numpy(rows), torch.from_numpy(cols)
    s = cfg.max_shift_px
    losses: list[float] = []
    encoder.train()
    heads.train()
    for step in range(cfg.steps):
        pick = torch.randint(0, len(rows), (cfg.batch_size,), generator=gen)
        views = []
        for _ in range(2):
            dr = torch.randint(-s, s + 1, (cfg.batch_size,), generator=gen)
            dc = torch.randint(-s, s + 1, (cfg.batch_size,), generator=gen)
            chips = grid.cut(r_all[pick] + dr, c_all[pick] + dc, cfg.chip_px)
            views.append(augment(chips, gen))
        feats = encoder(torch.cat(views))
        z = nn.functional.normalize(heads["proj"](feats), dim=1)
        z1, z2 = z.chunk(2)
        loss = info_nce(z1, z2, temperature=cfg.temperature)
        if cluster is not None:
            target = cluster[pick].to(dev).repeat(2)
            loss = loss + cfg.geo_weight * nn.functional.cross_entropy(heads["geo"](feats),
                                                                       target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        progress(step + 1, cfg.steps, f"landsat pretrain {cfg.variant}")
    secs = time.perf_counter() - t0
    first, last = PretrainResult(encoder, losses, secs, cfg).loss_first_last()
    log.info("Landsat pretrain %s seed %d: %d steps in %.1f s on %s, loss %.3f -> %.3f",
             cfg.variant, cfg.seed, cfg.steps, secs, dev, first, last)
    return PretrainResult(encoder.cpu().eval(), losses, secs, cfg)
