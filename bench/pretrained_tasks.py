"""Quick task check of the pretrained recipes on one sample city (a stand-in while the
benchmark harness is restructured). Protocol fixed before any score was seen: checkerboard of
`--block-m` blocks, odd blocks held out; adapters train on the other blocks only.

* cross-view ground -> overhead R@K among the held-out places (one photo, one chip per place):
  frozen ImageNet EfficientNet-Lite0 on both sides vs models/lite0_crossview.yaml;
* perception R2 (per photo) and socioeconomic R2 (per tract, pooled), ridge + spatial block CV
  as in engine.evaluate.tasks: frozen Lite0, the temporal and cross-view adapters, MOSAIKS and
  raw pixels; and near/remote fusion (ground Lite0 features + Lite0 features of the overhead
  chip at the photo) vs ground alone and overhead alone.

    PYTHONPATH=$PWD .venv/bin/python bench/pretrained_tasks.py --city DIR --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    from engine.evaluate import metrics, tasks
    from engine.evaluate.baselines import ModelEmbedder, RawPixelEmbedder
    from engine.evaluate.context import load_city
    from engine.evaluate.imagenet import ImageNetEmbedder
    from engine.evaluate.mosaiks import MosaiksEmbedder
    from engine.evaluate.settings import PERCEPTION, Settings
    from engine.heads.cv import cross_validate
    from engine.models.folder import load_model
    from engine.train.config import load_config
    from engine.train.loop import train

    ap = argparse.ArgumentParser()
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--chip-px", type=int, default=128)
    ap.add_argument("--block-m", type=float, default=400.0)
    ap.add_argument("--point-block-m", type=float, default=200.0)
    ap.add_argument("--tract-block-m", type=float, default=400.0)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = load_city(args.city)
    s = Settings(image_size=args.image_size, chip_px=args.chip_px,
                     point_block_m=args.point_block_m, tract_block_m=args.tract_block_m,
                     point_folds=args.folds, tract_folds=args.folds)
    xy = ctx.xy
    b = np.floor((xy - xy.min(axis=0)) / args.block_m).astype(int)
    held = (b[:, 0] + b[:, 1]) % 2 == 1
    train_layer = args.out / "train_blocks.gpkg"
    frame = ctx.layer.frame.loc[~held].drop(columns=["source_fid"], errors="ignore")
    frame.to_file(train_layer, layer="streetview", driver="GPKG")
    base = [f"data.streetview={train_layer}", f"data.overhead=[{args.city}/overhead/*.tif]",
            f"data.image_size={args.image_size}", f"data.chip_size={args.chip_px}",
            f"train.feature_cache={args.out / 'cache'}", "train.device=cpu",
            "train.checkpoint_every=0", f"train.steps={args.steps}"]
    models = {}
    for recipe in ("lite0_temporal", "lite0_crossview"):
        cfg = load_config(f"models/{recipe}.yaml", [*base, f"output={args.out / recipe}"])
        models[recipe] = train(cfg)["seconds"]
    report: dict = {"photos": len(held), "held_out_photos": int(held.sum()),
                    "train_seconds": models}
    frozen = ImageNetEmbedder(image_size=args.image_size, device="cpu")
    embedders = {"frozen lite0": frozen,
                 "lite0_temporal": ModelEmbedder(load_model(args.out / "lite0_temporal"),
                                                 "lite0_temporal", args.image_size),
                 "lite0_crossview": ModelEmbedder(load_model(args.out / "lite0_crossview"),
                                                  "lite0_crossview", args.image_size),
                 "mosaiks": MosaiksEmbedder(image_size=args.image_size),
                 "raw pixels": RawPixelEmbedder(args.image_size)}
    places = tasks.one_photo_per_place(ctx)
    places = places[held[places]]
    chips = tasks.overhead_chips(ctx, places, args.chip_px)
    report["cross_view_heldout_places"] = int(len(places))
    for name in ("frozen lite0", "lite0_crossview"):
        e = embedders[name]
        ground = ctx.photo_embeddings(e, name)[places]
        report[f"cross_view_heldout {name}"] = metrics.cross_view_retrieval(
            ground, e.embed_chips(chips))
    for name, e in embedders.items():
        rows = tasks.perception(e, name, ctx, s) + tasks.socioeconomic(e, name, ctx, s)
        report[f"tasks {name}"] = {f"{r['task']}:{r['target']}": round(
            float(r.get("r2_pooled", r.get("r2"))), 3) for r in rows}
    # near/remote fusion at every photo: frozen Lite0 ground + Lite0 of the overhead chip
    every = np.arange(len(held))
    ground = ctx.photo_embeddings(frozen, "frozen lite0")
    over = frozen.embed_chips(tasks.overhead_chips(ctx, every, args.chip_px))
    groups = ctx.layer.frame["location_id"].to_numpy()
    fusion = {}
    for label, X in (("ground", ground), ("overhead", over),
                     ("fused", np.concatenate([ground, over], axis=1))):
        fusion[label] = {t: round(float(cross_validate(
            X, ctx.layer.frame[t].to_numpy(np.float64), ctx.xy, "ridge",
            block_size_m=s.point_block_m, n_folds=s.point_folds, seed=s.seed,
            groups=groups).pooled["r2"]), 3) for t in PERCEPTION}
    report["fusion perception r2_pooled (frozen lite0)"] = fusion
    print(json.dumps(report, indent=1))
    (args.out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
