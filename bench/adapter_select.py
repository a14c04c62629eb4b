"""Does a geographic adapter add to the frozen features it adapts? Scored on a selection city.

For each frozen pretrained recipe (trained as the benchmark trains it: its steps, the
training photos outside the held-out blocks and their buffer, training seeds given), the
benchmark's own perception and tract tasks score three views of the same photos on the same
rows and folds: the frozen ImageNet Lite0 features alone, the recipe's adapter embedding alone,
and both joined by the fusion head of the benchmark (`stack`: each view's ridge, stacked), next
to the control (the frozen features alone, stacked the same way). A recipe's margin is the
smaller of its perception and tract margins over that control. Run it on a city the benchmark
does not report (e.g. a `default` city of seed 3 with 14 x 14 tracts; it refuses seeds 0-2).

    PYTHONPATH=$PWD .venv/bin/python bench/adapter_select.py --city CITY --out DIR \
        [--recipes lite0_temporal ...] [--seeds 0 1 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RECIPES = ("lite0_temporal", "lite0_spatial", "lite0_crossview_spatial")
BENCHMARK_CITY_SEEDS = (0, 1, 2)


def scores(rows: list[dict]) -> dict[str, dict[str, float]]:
    """encoder -> {"perception": mean R2 over targets, "tracts": mean pooled R2}."""
    out: dict[str, dict[str, float]] = {}
    for task, key, metric in (("perception", "perception", "r2"),
                              ("tracts", "tracts", "r2_pooled")):
        for enc in dict.fromkeys(r["encoder"] for r in rows if r["task"] == task):
            vals = [r[metric] for r in rows if r["task"] == task and r["encoder"] == enc]
            out.setdefault(enc, {})[key] = float(np.mean(vals))
    return out


def view_scores(ctx, ground: np.ndarray, adapter: np.ndarray, s, name: str) -> dict:
    """The benchmark's perception and tract rows of ground, adapter and both (stacked)."""
    from engine.evaluate.fusion_tasks import view_rows
    from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC
    from engine.evaluate.tasks import tract_rows

    names, fused = ("frozen", name), f"{name} + frozen (stacked)"
    groups = ctx.layer.frame["location_id"].to_numpy()
    targets = {t: ctx.layer.frame[t].to_numpy(np.float64) for t in PERCEPTION}
    rows = view_rows("perception", targets, ground, adapter, ctx.xy, s.point_block_m,
                     s.point_folds, s, names, groups, fused_name=fused)
    g, xy, cov = tract_rows(ctx, ground)
    a, _, _ = tract_rows(ctx, adapter)
    targets = {t: ctx.tracts[t].to_numpy(np.float64)[cov] for t in SOCIOECONOMIC}
    rows += view_rows("tracts", targets, g, a, xy, s.tract_block_m, s.tract_folds, s, names,
                      fused_name=fused)
    return scores(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    from engine.evaluate.baselines import ModelEmbedder
    from engine.evaluate.recipes import recipe_image_size
    from engine.evaluate.runner import Bench, imagenet_embedder, open_city
    from engine.evaluate.settings import settings_for
    from engine.models.folder import load_model

    torch.set_num_threads(args.threads)
    manifest = json.loads((args.city / "city.json").read_text(encoding="utf-8"))
    city_seed = int(manifest.get("seed", -1))
    if city_seed in BENCHMARK_CITY_SEEDS:
        raise SystemExit(f"{args.city} is benchmark city seed {city_seed}: select on another")
    args.out.mkdir(parents=True, exist_ok=True)
    s = settings_for("benchmark", manifest.get("preset"))
    b = Bench(args.out, s, lambda *a: None)
    ctx, info = open_city(b, city_seed, args.city)
    ground = ctx.photo_embeddings(imagenet_embedder(s.pretrained_image_size), "imagenet")
    results, seconds = [], {}
    for recipe in args.recipes:
        for seed in args.seeds:
            t = time.perf_counter()
            es = replace(s, seed=seed)
            model = load_model(b.train(recipe, seed))
            emb = ModelEmbedder(model, recipe, recipe_image_size(recipe, es),
                                shared=ctx.backbone_features)
            adapter = ctx.photo_embeddings(emb, f"{recipe}_s{seed}")
            got = view_scores(ctx, ground, adapter, es, recipe)
            control, fused = got["frozen (stacked)"], got[f"{recipe} + frozen (stacked)"]
            margin = {k: fused[k] - control[k] for k in control}
            results.append({"recipe": recipe, "seed": seed, "scores": got, "margin": margin,
                            "smaller_margin": min(margin.values())})
            seconds[f"{recipe} s{seed}"] = round(time.perf_counter() - t, 1)
            print(json.dumps(results[-1]), flush=True)
    by_recipe = {r: float(np.mean([x["smaller_margin"] for x in results if x["recipe"] == r]))
                 for r in args.recipes}
    chosen = max(args.recipes, key=lambda r: by_recipe[r])
    doc = {"city": info, "results": results, "mean_smaller_margin": by_recipe,
           "chosen": chosen, "seconds": seconds}
    (args.out / "adapter_select.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")
    lines = ["| recipe | seed | view | perception R2 | tract R2 (pooled) |",
             "|---|---|---|---|---|"]
    for x in results:
        for view, v in x["scores"].items():
            lines.append(f"| {x['recipe']} | {x['seed']} | {view} | {v['perception']:.3f} | "
                         f"{v['tracts']:.3f} |")
    lines.append("")
    lines += [f"{r}: mean smaller margin over the stacked control {m:+.3f}"
              for r, m in by_recipe.items()]
    (args.out / "adapter_select.md").write_text("\n".join(lines) + f"\n\nchosen: {chosen}\n",
                                                encoding="utf-8")
    print("\n".join(lines), f"\nchosen: {chosen}\nseconds: {seconds}", sep="\n")


if __name__ == "__main__":
    main()
