"""Select the frozen temporal adapter's settings on the benchmark's TRAINING places only.

The protocol's held-out blocks (and their buffer) of one benchmark city are removed first;
then a quarter of the remaining 200 m blocks, drawn with `--inner-seed`, is the validation
set (same block size, share and 50 m buffer rules as the protocol), and each variant of
`models/lite0_temporal.yaml` trains on the rest. Score: place recognition R@1 on the
validation places (engine.evaluate.tasks.vpr, queries = each place's last capture). The
frozen ImageNet Lite0 at 64 and 128 px is scored on the same places. No held-out place of
the protocol is read, embedded or scored.

    PYTHONPATH=$PWD .venv/bin/python bench/temporal_select.py --city CITY --out DIR \
        [--variants base px128 ...] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# name -> key=value overrides of models/lite0_temporal.yaml (after the benchmark's own values:
# 64 px photos, 200 steps, batch 32; see VARIANT_BASE)
VARIANTS: dict[str, dict] = {
    "bench64": {},
    "px128": {"data.image_size": 128},
    "px128_plain": {"data.image_size": 128, "train.cached_views": 1},
    "px64_plain": {"train.cached_views": 1},
    "px128_plain_2k": {"data.image_size": 128, "train.cached_views": 1, "train.steps": 2000,
                       "train.batch_size": 128},
    "px128_2k": {"data.image_size": 128, "train.steps": 2000, "train.batch_size": 128},
    "px128_plain_1k": {"data.image_size": 128, "train.cached_views": 1, "train.steps": 1000,
                       "train.batch_size": 64},
    "px128_plain_1k_b32": {"data.image_size": 128, "train.cached_views": 1,
                           "train.steps": 1000},
    "px128_plain_1k_d1280": {"data.image_size": 128, "train.cached_views": 1,
                             "train.steps": 1000, "train.batch_size": 64,
                             "model.embedding_dim": 1280},
    "px128_plain_1k_t05": {"data.image_size": 128, "train.cached_views": 1,
                           "train.steps": 1000, "train.batch_size": 64,
                           "objectives.temporal.temperature": 0.05},
}


def masks(xy: np.ndarray, city_seed: int, inner_seed: int, s) -> tuple[np.ndarray, np.ndarray]:
    """(inner-train, validation) masks over the city's photos: the protocol's training photos
    split again by the protocol's own rules (blocks, share, buffer)."""
    from engine.evaluate.holdout import heldout_mask, training_mask

    outer = training_mask(xy, heldout_mask(xy, s.holdout_block_m, city_seed, s.holdout_share),
                          s.holdout_buffer_m)
    rows = np.flatnonzero(outer)
    val_sub = heldout_mask(xy[rows], s.holdout_block_m, inner_seed, s.holdout_share)
    train_sub = training_mask(xy[rows], val_sub, s.holdout_buffer_m)
    val, train = np.zeros(len(xy), bool), np.zeros(len(xy), bool)
    val[rows[val_sub]], train[rows[train_sub]] = True, True
    return train, val


def layer_context(city: Path, layer_path: Path):
    """A CityContext over one photo layer (the validation places), for tasks.vpr."""
    from engine.data.points import read_streetview
    from engine.evaluate.context import CityContext, capture_ranks

    layer = read_streetview(layer_path)
    frame = layer.frame
    heading = frame["heading"].to_numpy(np.float64)
    ranks = capture_ranks(frame["location_id"].to_numpy(), heading,
                          frame["captured_at"].to_numpy())
    return CityContext(city=city, manifest={}, layer=layer, xy=layer.xy_in(layer.crs),
                       heading=heading, capture_rank=ranks, tracts=None)


def train_variant(city: Path, out: Path, layer: Path, s, seed: int, extra: dict) -> float:
    """Train lite0_temporal with the benchmark's values plus `extra`; returns seconds."""
    from engine.defaults import DEVICE
    from engine.paths import resolve_path
    from engine.train.config import load_config
    from engine.train.loop import train

    values = {"output": str(out), "data.streetview": str(layer),
              "data.overhead": [str(city / "overhead" / "*.tif")],
              "data.image_size": s.image_size, "data.chip_size": s.chip_px,
              "train.steps": s.steps, "train.batch_size": s.batch_size, "train.seed": seed,
              "train.checkpoint_every": 0, "train.log_every": 100, "train.device": DEVICE,
              "train.workers": 0, "train.feature_cache": str(out.parent / "feature-cache")}
    values.update(extra)
    cfg = load_config(resolve_path("models/lite0_temporal.yaml"),
                      [f"{k}={json.dumps(v)}" for k, v in values.items()])
    t0 = time.perf_counter()
    train(cfg)
    return time.perf_counter() - t0


def main() -> None:
    import torch

    from engine.evaluate import tasks
    from engine.evaluate.baselines import ModelEmbedder
    from engine.evaluate.context import load_city
    from engine.evaluate.holdout import write_training_layer
    from engine.evaluate.imagenet import ImageNetEmbedder
    from engine.evaluate.settings import PRESETS
    from engine.models.folder import load_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--city-seed", type=int, default=0)
    ap.add_argument("--inner-seed", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    s = PRESETS["benchmark"]
    args.out.mkdir(parents=True, exist_ok=True)
    full = load_city(args.city)
    train_m, val_m = masks(full.xy, args.city_seed, args.inner_seed, s)
    train_layer = write_training_layer(args.city, train_m, args.out / "inner_train.gpkg")
    val_layer = write_training_layer(args.city, val_m, args.out / "inner_val.gpkg")
    ctx = layer_context(args.city, val_layer)
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["split"] = {"inner_train": int(train_m.sum()), "validation": int(val_m.sum())}
    for size in (64, 128):
        key = f"frozen{size}"
        if key not in results:
            res = tasks.vpr(ImageNetEmbedder(image_size=size), key, ctx, s)[0]
            results[key] = {k: res[k] for k in ("R@1", "R@5", "R@10", "n_queries")}
        print(key, results[key], flush=True)
    shared: dict = {}
    for name in args.variants:
        for seed in args.seeds:
            key = f"{name}_s{seed}"
            if key in results:
                print(key, results[key], flush=True)
                continue
            extra = VARIANTS[name]
            mdir = args.out / "models" / key
            secs = train_variant(args.city, mdir, train_layer, s, seed, extra)
            size = int(extra.get("data.image_size", s.image_size))
            emb = ModelEmbedder(load_model(mdir), key, size, shared=shared)
            res = tasks.vpr(emb, key, ctx, replace(s, seed=seed))[0]
            ctx.cache.clear()
            results[key] = {**{k: res[k] for k in ("R@1", "R@5", "R@10", "n_queries")},
                            "train_s": round(secs, 1)}
            print(key, results[key], flush=True)
            results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
