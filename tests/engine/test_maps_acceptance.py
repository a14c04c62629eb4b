"""Acceptance: after a short real cross-view training on the small city, the zero-shot map of
a perception score agrees with the truth raster on photo-free cells better than the same
pipeline run with a random-init encoder of the same architecture.

The map head is the demo's and the benchmark's (Settings.map_head "overhead"): a ridge fitted
on the overhead field at the photos' places, then applied to the whole field. Until
2026-11-26 this test fitted the head on the photo embeddings and applied it to the overhead
field; that ordering depended on the machine: it held in CI, but on the machine of
2026-11-26 it failed with the code of before that day and after alike (photo-free r, trained
vs random init, training seeds 0 / 1 / 2: -0.318 vs -0.160, -0.069 vs 0.354, 0.019 vs
-0.146), where the overhead-fitted head kept it on all three (0.502 vs 0.201, 0.157 vs 0.133,
0.376 vs 0.344).
The margin is small on some seeds: the claim itself is measured across cities and seeds by
the benchmark ("cross-view: zero-shot maps beat a random encoder's")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

TARGET = "perception_beautiful"  # greenery: what the overhead view can see


def zero_shot_r(model, key: str, city: Path, out: Path, settings) -> dict:
    """Embed photos + overhead field, fit a ridge head on the field at the photos' places,
    map it zero-shot over the field, score it."""
    from engine.data.points import read_streetview
    from engine.evaluate.encoder_run import embed_city
    from engine.evaluate.map_score import map_vs_truth
    from engine.maps.fit import fit_rows
    from engine.maps.fusion import overhead_rows
    from engine.maps.rows import point_rows
    from engine.maps.zero_shot import zero_shot_map

    emb = embed_city(model, key, city, out / "embeddings", settings,
                     image_size=settings.image_size)  # the tiny recipe's own photo size
    rows = overhead_rows(point_rows(emb["photos"], TARGET), emb["field"])
    fit = fit_rows(rows, out / "head", "ridge", TARGET, settings.point_block_m,
                   settings.point_folds, settings.seed)
    zero_shot_map(out / "head", emb["field"], out / "maps", TARGET)
    layer = read_streetview(city / "streetview.gpkg", check_images=False)
    score = map_vs_truth(out / "maps" / f"{TARGET}.tif", city / "truth" / f"{TARGET}.tif",
                         layer.xy_in(layer.crs), layer.crs, settings.min_dist_m)
    return {**score, "cv_r2": fit["metrics"]["r2"]}


def test_trained_zero_shot_map_beats_a_random_encoder(small_city: Path, tmp_path: Path) -> None:
    import torch

    from engine.evaluate.baselines import random_init_embedder
    from engine.evaluate.recipes import train_or_reuse
    from engine.evaluate.settings import settings_for
    from engine.models.folder import load_model, read_model_config

    torch.set_num_threads(1)
    settings = replace(settings_for("demo-quick"), steps=200, seed=0)
    info = train_or_reuse("crossview", small_city, tmp_path / "model", settings)
    assert not info["reused"] and info["final_loss"] is not None
    trained = zero_shot_r(load_model(tmp_path / "model"), "trained", small_city,
                          tmp_path / "trained", settings)
    rnd_model = random_init_embedder(read_model_config(tmp_path / "model"), seed=0).model
    rnd = zero_shot_r(rnd_model, "random", small_city,
                      tmp_path / "random", settings)
    print(f"\n{TARGET} zero-shot Pearson r on {trained['n_photo_free']} photo-free cells "
          f"(> {settings.min_dist_m:g} m from photos): trained {trained['r_photo_free']:.3f}, "
          f"random init {rnd['r_photo_free']:.3f}; on all cells {trained['r_all']:.3f} vs "
          f"{rnd['r_all']:.3f}; head CV R2 {trained['cv_r2']:.3f} vs {rnd['cv_r2']:.3f}; "
          f"{settings.steps} steps in {info['seconds']} s")
    assert trained["n_photo_free"] >= 20
    # the ordering is the claim; the level swings with small data changes (0.45 vs -0.1 seen
    # for one re-rendered photo), so no absolute threshold
    assert trained["r_photo_free"] > rnd["r_photo_free"]
