"""Quick check of the pretrained recipes on one sample city (a stand-in while the benchmark
harness is restructured): place recognition R@1 on held-out 100 m blocks, frozen ImageNet
EfficientNet-Lite0 vs the temporal adapter trained on the other blocks; and training images/s
per regime. Protocol fixed before any score was seen: checkerboard of 100 m blocks, odd blocks
held out; queries = each place's last capture, database = its earlier captures (engine
metrics.recall_at_k, 25 m / 45 degrees).

    PYTHONPATH=$PWD .venv/bin/python bench/pretrained_quick.py --city DIR --out DIR
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def split(layer, block_m: float) -> np.ndarray:
    """True for photos in held-out (odd checkerboard) blocks."""
    xy = layer.xy()
    b = np.floor((xy - xy.min(axis=0)) / block_m).astype(int)
    return (b[:, 0] + b[:, 1]) % 2 == 1


def vpr(emb: np.ndarray, layer, rows: np.ndarray) -> dict:
    from engine.evaluate.metrics import recall_at_k

    frame = layer.frame.iloc[rows]
    t = frame["captured_at"].astype(str).to_numpy()
    key = frame["location_id"].astype(str) + "|" + np.round(frame["heading"]).astype(str)
    last = np.zeros(len(rows), bool)
    for k in np.unique(key):
        idx = np.flatnonzero(key.to_numpy() == k)
        last[idx[np.argmax(t[idx])]] = True
    xy, head = layer.xy()[rows], frame["heading"].to_numpy(float)
    return recall_at_k(emb[last], emb[~last], xy[last], xy[~last], head[last], head[~last])


def embed(model, paths: list[str], size: int) -> np.ndarray:
    from engine.embed.points import embed_images

    _, emb, _ = embed_images(model, paths, 64, size, 0, "cpu")
    return np.asarray(emb, np.float32)


def train(recipe: str, overrides: list[str]) -> tuple[dict, float]:
    from engine.train.config import load_config
    from engine.train.loop import train as run

    t0 = time.perf_counter()
    result = run(load_config(f"models/{recipe}.yaml", overrides))
    return result, time.perf_counter() - t0


def main() -> None:
    from engine.data.points import read_streetview
    from engine.models.folder import load_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--block-m", type=float, default=100.0)
    ap.add_argument("--speed-steps", type=int, default=6, help="0: skip the speed runs")
    args = ap.parse_args()
    layer = read_streetview(args.city / "streetview.gpkg")
    held = split(layer, args.block_m)
    train_layer = args.out / "train_blocks.gpkg"
    args.out.mkdir(parents=True, exist_ok=True)
    frame = layer.frame.loc[~held].drop(columns=["source_fid"], errors="ignore")
    frame.to_file(train_layer, layer="streetview", driver="GPKG")
    base = [f"data.streetview={train_layer}", f"data.overhead=[{args.city}/overhead/*.tif]",
            f"data.image_size={args.image_size}", f"train.feature_cache={args.out / 'cache'}",
            "train.device=cpu", "train.checkpoint_every=0", "train.log_every=100"]
    report: dict = {"photos": len(held), "held_out_photos": int(held.sum())}
    rows = np.flatnonzero(held)
    paths = [str(p) for p in layer.frame["image"].iloc[rows]]
    frozen = embed(load_model("zoo:efficientnet_lite0"), paths, args.image_size)
    report["vpr_heldout_frozen_lite0"] = vpr(frozen, layer, rows)
    result, secs = train("lite0_temporal", [*base, f"output={args.out / 'temporal'}",
                                            f"train.steps={args.steps}"])
    report["temporal_train_s"] = round(secs, 1)
    adapted = embed(load_model(args.out / "temporal"), paths, args.image_size)
    report["vpr_heldout_lite0_temporal"] = vpr(adapted, layer, rows)
    speed = {}
    for regime in ("frozen", "partial", "full") if args.speed_steps > 0 else ():
        times = []
        for steps in (2, 2 + args.speed_steps):
            _, s = train("lite0_temporal", [*base, f"output={args.out / regime}",
                                            f"train.regime={regime}", f"train.steps={steps}",
                                            "train.batch_size=32"])
            times.append(s)
        # anchors per second; each anchor is 3 photos here (view1, view2, temporal partner)
        speed[regime] = round(args.speed_steps * 32 / max(times[1] - times[0], 1e-9), 1)
    report["train_anchors_per_s"] = speed
    print(json.dumps(report, indent=1))
    (args.out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
