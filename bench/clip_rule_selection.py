"""Ridge clip rule selection (pre-registered: docs/BENCHMARK_PROTOCOL.md, amendment 2026-11-26,
rule selection): pooled tract R2 (mean of income / poverty_share / pop_density) of the clip rules
A per_feature, B eigenbasis, C per_feature_then_eigenbasis (engine.heads.feature_range) on the
development cities 100 and 101 (benchmark preset; no benchmark report uses them), six feature
sets, on the benchmark's tract rows and block folds (RidgePath per fold, as block_cv_predict).

    .venv/bin/python bench/clip_rule_selection.py [--workdir /tmp/geocontrast-bench/clip-rule]

About 20 min on 2 cores (two cities generated, ImageNet features of their photos and overhead
chips); features are cached in the workdir, so a rerun only refits.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import geopandas as gpd
import numpy as np
import torch

from engine.evaluate.context import load_city
from engine.evaluate.settings import SOCIOECONOMIC, settings_for
from engine.evaluate.tasks import rbf_features, score_rows, tract_rows
from engine.heads import feature_range as fr
from engine.heads.ridge_path import RidgePath
from engine.heads.spatial_cv import spatial_folds
from engine.nn.registry import LOCATION_ENCODERS

torch.set_num_threads(2)
RULES = {"A": "per_feature", "B": "eigenbasis", "C": "per_feature_then_eigenbasis"}
SETS = ["raw x,y (RBF)", "spherical harmonics (untrained)", "wrap (untrained)",
        "theory (untrained)", "ImageNet Lite0 street photos", "ImageNet Lite0 overhead"]


def oof(X, Y, folds, rule):
    fr.CLIP_RULE = rule
    out = np.empty_like(Y)
    for f in np.unique(folds):
        t = folds == f
        out[t] = RidgePath(X[~t]).fit(Y[~t]).predict(X[t])
    return out


def features(ctx, s, cache):
    """Writes each set's tract rows (features x<i>, centroids xy<i>, covered mask cov<i>)."""
    point = {SETS[0]: rbf_features(ctx.xy, ctx.manifest["bounds"])}
    ll = torch.as_tensor(np.asarray(ctx.layer.lonlat(), np.float64))
    for name, kw in ((SETS[1], ("spherical_harmonics", {"legendre_polys": 10})),
                     (SETS[2], ("wrap", {})),
                     (SETS[3], ("theory", {"min_radius": 0.00001, "max_radius": 0.05}))):
        enc = LOCATION_ENCODERS.build(kw[0], **kw[1])
        with torch.no_grad():
            point[name] = enc(ll).numpy()
    from engine.evaluate.overhead_tasks import grid_features
    from engine.evaluate.runner import IMAGENET, imagenet_embedder

    emb = imagenet_embedder(s.pretrained_image_size)
    t0 = time.time()
    point[SETS[4]] = ctx.photo_embeddings(emb, IMAGENET)
    print(f"  imagenet street photos: {len(point[SETS[4]])} in {time.time() - t0:.0f} s",
          flush=True)
    t0 = time.time()
    gxy, gfeats = grid_features(emb, "imagenet", ctx, s)
    print(f"  imagenet overhead: {len(gxy)} chips in {time.time() - t0:.0f} s", flush=True)
    point[SETS[5]] = gfeats
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(gxy[:, 0], gxy[:, 1]), crs=ctx.crs)
    arrays = {}
    for i, name in enumerate(SETS):  # each set scores the tracts its points cover
        arrays[f"x{i}"], arrays[f"xy{i}"], arrays[f"cov{i}"] = tract_rows(
            ctx, point[name], pts if name == SETS[5] else None)
    np.savez(cache, **arrays)


def city_scores(city, out_dir):
    ctx = load_city(city)
    s = settings_for("benchmark", ctx.manifest.get("preset"))
    cache = out_dir / f"features_{Path(city).name}.npz"
    if not cache.is_file():
        features(ctx, s, cache)
    z = np.load(cache)
    res = {}
    for i, name in enumerate(SETS):
        X, xy, cov = z[f"x{i}"], z[f"xy{i}"], z[f"cov{i}"]
        targets = {t: ctx.tracts[t].to_numpy(np.float64)[cov] for t in SOCIOECONOMIC}
        Y = np.column_stack(list(targets.values()))
        folds = spatial_folds(xy, s.tract_block_m, s.tract_folds, s.seed)
        res[name] = {}
        for key, rule in RULES.items():
            rows = score_rows(name, targets, oof(X, Y, folds, rule), folds, s)
            res[name][key] = {r["target"]: r["r2_pooled"] for r in rows}
            res[name][key]["mean"] = float(np.mean([r["r2_pooled"] for r in rows]))
            print(f"{Path(city).name} {name:32s} {key} {rule:28s} "
                  f"mean {res[name][key]['mean']:9.3f}  "
                  + " ".join(f"{r['target']} {r['r2_pooled']:.3f}" for r in rows)
                  + f"  ({len(X)} tracts, {X.shape[1]} features)", flush=True)
    return res


def main():
    from engine.evaluate.city import cached_city
    from engine.evaluate.settings import PRESETS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, default=Path("/tmp/geocontrast-bench/clip-rule"))
    p.add_argument("--seeds", type=int, nargs="+", default=[100, 101])
    a = p.parse_args()
    out = a.workdir / "select.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    b = PRESETS["benchmark"]
    cities = []
    for seed in a.seeds:
        cached_city(a.workdir / "cities", b.preset, seed, b.tract_grid)
        grid = f"-t{int(b.tract_grid)}" if b.tract_grid else ""
        cities.append(str(a.workdir / "cities" / f"{b.preset}-s{seed}{grid}"))
    per = {Path(c).name: city_scores(c, out.parent) for c in cities}
    names = list(per)
    score = {n: {k: float(np.mean([per[c][n][k]["mean"] for c in names])) for k in RULES}
             for n in SETS}
    regret = {n: {k: max(score[n].values()) - score[n][k] for k in RULES} for n in SETS}
    worst = {k: max(regret[n][k] for n in SETS) for k in RULES}
    best = min(worst.values())
    chosen = "B" if worst["B"] <= best + 0.02 else min(worst, key=worst.get)
    print("\n| feature set | " + " | ".join(f"{k} {c}" for c in names for k in RULES)
          + " | " + " | ".join(f"{k} mean" for k in RULES) + " | "
          + " | ".join(f"{k} regret" for k in RULES) + " |")
    print("|---" * (1 + len(names) * 3 + 6) + "|")
    for n in SETS:
        print(f"| {n} | "
              + " | ".join(f"{per[c][n][k]['mean']:.3f}" for c in names for k in RULES)
              + " | " + " | ".join(f"{score[n][k]:.3f}" for k in RULES) + " | "
              + " | ".join(f"{regret[n][k]:.3f}" for k in RULES) + " |")
    print("\nmax regret: " + ", ".join(f"{k} ({RULES[k]}) {worst[k]:.3f}" for k in RULES))
    print(f"chosen: {chosen} ({RULES[chosen]})  [smallest max regret; B on a tie within 0.02]")
    out.write_text(json.dumps({"per_city": per, "score": score, "regret": regret,
                               "max_regret": worst, "chosen": RULES[chosen]}, indent=1))


if __name__ == "__main__":
    main()
