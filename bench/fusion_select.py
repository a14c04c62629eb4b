"""Select the near/remote fusion head on a selection city that the benchmark does not report.

Every candidate of engine.heads.fusion_heads.HEADS (and the control of `stack`: the ground
ridge alone, recalibrated by the same stacking) is scored with the benchmark's own fusion tasks
(same views, folds and metrics) on one city, e.g. a `default` city of seed 3 with 14 x 14
tracts (the benchmark's cities are seeds 0, 1, 2). Rule (docs/BENCHMARK_PROTOCOL.md): the
candidate whose smaller margin over the better single view, across perception R2 (mean over
folds) and tract R2 (pooled), both averaged over targets, is largest.

    PYTHONPATH=$PWD .venv/bin/python bench/fusion_select.py --city CITY --out DIR [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def views(city: Path, out: Path, s) -> tuple:
    """(context, ground photo features, grid x, y, grid MOSAIKS features), cached in `out`."""
    from engine.evaluate.baselines import MOSAIKS
    from engine.evaluate.context import load_city
    from engine.evaluate.mosaiks import MosaiksEmbedder
    from engine.evaluate.overhead_tasks import grid_features
    from engine.evaluate.runner import imagenet_embedder

    ctx = load_city(city)
    cache = out / "views.npz"
    if cache.is_file():
        z = np.load(cache)
        return ctx, z["ground"], z["grid_xy"], z["over"]
    ground = ctx.photo_embeddings(imagenet_embedder(s.pretrained_image_size), "imagenet")
    grid_xy, over = grid_features(MosaiksEmbedder(image_size=s.image_size, seed=s.seed),
                                  MOSAIKS, ctx, s)
    np.savez(cache, ground=ground, grid_xy=grid_xy, over=over)
    return ctx, ground, grid_xy, over


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """encoder -> {"perception": mean R2 over targets, "tracts": mean pooled R2}."""
    out: dict[str, dict[str, float]] = {}
    for task, key, metric in (("fusion_perception", "perception", "r2"),
                              ("fusion_socioeconomic", "tracts", "r2_pooled")):
        for enc in dict.fromkeys(r["encoder"] for r in rows):
            vals = [r[metric] for r in rows if r["task"] == task and r["encoder"] == enc]
            out.setdefault(enc, {})[key] = float(np.mean(vals))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    from engine.evaluate import fusion_tasks as ft
    from engine.evaluate.baselines import IMAGENET, MOSAIKS
    from engine.evaluate.settings import settings_for
    from engine.heads.fusion_heads import CONTROLS, HEADS

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((args.city / "city.json").read_text(encoding="utf-8"))
    s = settings_for("benchmark", manifest.get("preset"))
    t0 = time.perf_counter()
    ctx, ground, grid_xy, over = views(args.city, args.out, s)
    t_views = time.perf_counter() - t0
    heads = (*HEADS, *CONTROLS)
    rows, seconds = [], {}
    for task in ft.TASK_NAMES:
        for head in heads:
            t = time.perf_counter()
            got = getattr(ft, task)(ctx, ground, grid_xy, over, s, (IMAGENET, MOSAIKS), (head,))
            seconds[f"{task} {head}"] = round(time.perf_counter() - t, 1)
            n_t = len({r["target"] for r in got})  # rows: ground, overhead, then the heads
            rows += [{**r, "encoder": head} for r in got[2 * n_t:3 * n_t]]
            if head == heads[0]:
                rows += got[:2 * n_t]
    summ = summary(rows)
    best_alone = {k: max(summ[IMAGENET][k], summ[MOSAIKS][k]) for k in ("perception", "tracts")}
    margin = {h: min(summ[h][k] - best_alone[k] for k in best_alone) for h in HEADS}
    chosen = max(HEADS, key=lambda h: margin[h])
    doc = {"city": str(args.city), "rows": rows, "summary": summ, "margin": margin,
           "chosen": chosen, "seconds": seconds, "seconds_views": round(t_views, 1)}
    (args.out / "fusion_select.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    lines = ["| head | perception R2 | tract R2 (pooled) | smaller margin over the better view |",
             "|---|---|---|---|"]
    for enc, v in summ.items():
        m = f"{margin[enc]:+.3f}" if enc in margin else ""
        lines.append(f"| {enc} | {v['perception']:.3f} | {v['tracts']:.3f} | {m} |")
    (args.out / "fusion_select.md").write_text("\n".join(lines) + f"\n\nchosen: {chosen}\n",
                                               encoding="utf-8")
    print("\n".join(lines), f"\nchosen: {chosen}\nseconds: {seconds}", sep="\n")


if __name__ == "__main__":
    main()
