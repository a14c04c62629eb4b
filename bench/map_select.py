"""Select the map recipe (the demo's and the benchmark's zero-shot maps) on a SELECTION city.

The evaluation city is the default city (seed 0) and the benchmark's cities (Settings.cities);
this script is run on another draw of the generator (e.g. `--city` made by
`python -m engine sample-city --seed 3 --tract-grid 14`), never on those. Each variant trains
as the demo does (all the city's photos, the demo preset's sizes and seed 0), then the demo's
map stages run on it (engine.evaluate.encoder_run.run_encoder: photo embeddings -> ridge heads
-> zero-shot maps of the overhead field -> Pearson r vs the truth rasters on cells more than
30 m from every photo). Score: mean photo-free r over the three perception targets.

    PYTHONPATH=$PWD .venv/bin/python bench/map_select.py --city CITY --out DIR \
        [--variants tiny400 ...] [--threads 1] [--map-heads photos overhead]

`--map-heads photos overhead`: after training, the engine's map stages run once per
Settings.map_head on the same embeddings (a paired comparison of the heads; the overhead
head's validity check is out-of-fold), each row giving the checks' verdicts too.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

# name -> (recipe, Settings overrides, recipe key=value overrides); the demo preset's values
# (400 steps, batch 32, 64 px chips) apply unless overridden
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    # today's map recipe: tiny_cnn cross-view + spatial, trained from scratch
    "tiny400": ("crossview_spatial", {}, {}),
    # frozen ImageNet Lite0 + MLP adapters, 128 px photos, plain features (1 cached view)
    "lite0_cvs_v1_2k": ("lite0_crossview_spatial", {"steps": 2000},
                        {"train.cached_views": 1, "train.batch_size": 128}),
    # the same with the recipe's 4 cached views (augmented photo crops, chip rotations)
    "lite0_cvs_v4_2k": ("lite0_crossview_spatial", {"steps": 2000},
                        {"train.batch_size": 128}),
    # cross-view alone (no spatial-neighbour term)
    "lite0_cv_v1_2k": ("lite0_crossview", {"steps": 2000, "image_size": 128},
                       {"train.cached_views": 1, "train.batch_size": 128}),
    # fewer adapter steps (what the benchmark's 200-step runs would see)
    "lite0_cvs_v1_400": ("lite0_crossview_spatial", {"steps": 400},
                         {"train.cached_views": 1, "train.batch_size": 32}),
    # 128 m chips (the recipe's own chip size) for training and the field (stride 32 m)
    "lite0_cvs_v1_2k_c128": ("lite0_crossview_spatial",
                             {"steps": 2000, "chip_px": 128, "stride_px": 32},
                             {"train.cached_views": 1, "train.batch_size": 128}),
}


def run_variant(name: str, city: Path, out: Path, threads_note: str,
                map_heads: tuple[str, ...] = ("photos",)) -> list[dict]:
    """Train variant `name` into out/name/model and score its maps with each of `map_heads`
    (Settings.map_head) on the same embeddings; returns one row of figures per head."""
    from engine.evaluate.encoder_run import file_digest, mean_r, run_encoder
    from engine.evaluate.recipes import recipe_config, train_recipe
    from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, settings_for
    from engine.models.folder import load_model

    recipe, s_over, extra = VARIANTS[name]
    s = replace(settings_for("demo", "default"), map_recipe=recipe, **s_over)
    work = out / name
    model_dir = work / "model"
    t0 = time.perf_counter()
    extra = {"train.feature_cache": str(out / "feature-cache"), **extra}  # shared by variants
    cfg = recipe_config(recipe, city, model_dir, s, s.seed, s.steps, extra=extra)
    train_recipe(recipe, city, model_dir, s, s.seed, s.steps, cfg=cfg)
    t_train = time.perf_counter() - t0
    model = load_model(model_dir)
    rows = []
    for head in map_heads:
        sh = replace(s, map_head=head)
        res = run_encoder(model, file_digest(model_dir / "model.safetensors"), city,
                          work if head == "photos" else work / f"head-{head}", sh)
        sc = res["scores"]
        rows.append({"variant": name, "recipe": recipe, "map_head": head,
                     "settings": s_over, "overrides": extra,
                     "mean_r_perception": round(mean_r(sc, PERCEPTION), 4),
                     "mean_r_socioeconomic": round(mean_r(sc, SOCIOECONOMIC), 4),
                     "r_photo_free": {t: round(v["r_photo_free"], 4) for t, v in sc.items()},
                     "check": {t: m.get("validity") for t, m in res["maps"].items()},
                     "train_s": round(t_train, 1),
                     "total_s": round(time.perf_counter() - t0, 1), "threads": threads_note})
    return rows


def overhead_head(name: str, city: Path, out: Path) -> dict:
    """The amendment's candidate: heads fitted on the variant's overhead field at the photos'
    places (tracts: field mean over each tract), mapped on that field and scored as above."""
    from engine.evaluate.encoder_run import mean_r, score_maps
    from engine.evaluate.settings import PERCEPTION, SOCIOECONOMIC, settings_for
    from engine.maps.fit import fit_rows
    from engine.maps.fusion import overhead_rows
    from engine.maps.rows import point_rows, polygon_rows, read_polygons
    from engine.maps.zero_shot import zero_shot_map

    recipe, s_over, _ = VARIANTS[name]
    s = replace(settings_for("demo", "default"), map_recipe=recipe, **s_over)
    work = out / name
    photos, field = work / "embeddings" / "photos.gpkg", work / "embeddings" / "overhead_field.tif"
    heads, maps = work / "overhead_heads", work / "overhead_maps"
    tracts = read_polygons(city / "tracts.gpkg")
    for target in PERCEPTION + SOCIOECONOMIC:
        tract = target in SOCIOECONOMIC
        rows = (polygon_rows(city / "tracts.gpkg", target, embeddings=photos) if tract
                else point_rows(photos, target))
        fit_rows(overhead_rows(rows, field), heads / target, "ridge", target,
                 s.tract_block_m if tract else s.point_block_m,
                 s.tract_folds if tract else s.point_folds, s.seed)
        zero_shot_map(heads / target, field, maps, target, tracts if tract else None,
                      "tract_id" if tract else None, False)
    sc = score_maps(maps, city, s)
    return {"variant": f"{name} + overhead-fitted head", "recipe": recipe,
            "mean_r_perception": round(mean_r(sc, PERCEPTION), 4),
            "mean_r_socioeconomic": round(mean_r(sc, SOCIOECONOMIC), 4),
            "r_photo_free": {t: round(v["r_photo_free"], 4) for t, v in sc.items()}}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--overhead-head", action="store_true",
                    help="score the overhead-fitted head of already trained variants")
    ap.add_argument("--map-heads", nargs="+", default=["photos"],
                    choices=["photos", "overhead"],
                    help="Settings.map_head values scored on each trained variant")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from engine.evaluate.settings import PRESETS

    doc = json.loads((args.city / "city.json").read_text(encoding="utf-8"))
    if doc.get("seed") in PRESETS["benchmark"].cities:
        raise SystemExit(f"city seed {doc.get('seed')} is an evaluation city: select on "
                         "another draw")
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "results.jsonl"
    for name in args.variants:
        rows = ([overhead_head(name, args.city, args.out)] if args.overhead_head else
                run_variant(name, args.city, args.out, f"{args.threads} torch thread(s)",
                            tuple(args.map_heads)))
        for row in rows:
            print(json.dumps(row), flush=True)
            with results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
