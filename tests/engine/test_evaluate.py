"""Benchmark tasks and baselines on the small sample city, and the quick run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine.evaluate import tasks
from engine.evaluate.adapted_tasks import ADAPTED_RECIPES, adapted_name
from engine.evaluate.baselines import RawPixelEmbedder, random_init_embedder
from engine.evaluate.claims import CLAIMS, judge
from engine.evaluate.context import capture_ranks, load_city
from engine.evaluate.fusion_tasks import STACKED_GROUND
from engine.evaluate.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SMALL = Settings(preset="small", image_size=32, chip_px=64, point_block_m=100.0,
                 tract_block_m=150.0, point_folds=4, tract_folds=3, n_pairs=2000)


@pytest.fixture(scope="module")
def ctx(small_city: Path):
    torch.set_num_threads(1)
    return load_city(small_city)


def test_capture_ranks_order_each_place_and_heading() -> None:
    t = np.array(["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-01"], "datetime64[ns]")
    ranks = capture_ranks(np.array([1, 1, 1, 2]), np.array([0.0, 0.0, 0.0, 90.0]), t)
    assert ranks.tolist() == [2, 0, 1, 0]


def test_baselines_give_finite_embeddings_of_the_right_shape(ctx) -> None:
    paths = ctx.layer.frame["image"].astype(str).tolist()[:12]
    raw = RawPixelEmbedder(32).embed_photos(paths)
    assert raw.shape == (12, 30) and np.isfinite(raw).all()
    cfg = yaml.safe_load((ROOT / "models/crossview_spatial.yaml").read_text())["model"]
    rnd = random_init_embedder(cfg, seed=0, image_size=32)
    emb = rnd.embed_photos(paths)
    assert emb.shape == (12, rnd.model.embedding_dim) and np.isfinite(emb).all()
    chips = tasks.overhead_chips(ctx, np.arange(5), 32)
    assert chips.shape == (5, 3, 32, 32) and chips.dtype == np.uint8 and chips.any()
    over = rnd.embed_chips(chips)
    assert over.shape == (5, rnd.model.embedding_dim) and np.isfinite(over).all()
    again = random_init_embedder(cfg, seed=0, image_size=32).embed_photos(paths)
    np.testing.assert_array_equal(emb, again)  # seeded


def test_spatial_folds_of_the_tract_task_are_disjoint_blocks(ctx) -> None:
    from engine.heads.spatial_cv import spatial_blocks, spatial_folds

    folds = spatial_folds(ctx.xy, SMALL.point_block_m, SMALL.point_folds, seed=0,
                          groups=ctx.layer.frame["location_id"].to_numpy())
    assert set(folds.tolist()) == set(range(SMALL.point_folds))
    blocks = spatial_blocks(ctx.xy, SMALL.point_block_m)
    loc = ctx.layer.frame["location_id"].to_numpy()
    for f in range(SMALL.point_folds):
        # no location (all photos of one place) is split across folds
        assert not set(loc[folds == f]) & set(loc[folds != f])
    # most blocks lie in one fold (a location straddling a block edge may move it)
    pure = [len(set(folds[blocks == b].tolist())) == 1 for b in np.unique(blocks)]
    assert np.mean(pure) > 0.7


def test_raw_pixel_tasks_give_rows(ctx) -> None:
    emb = RawPixelEmbedder(32)
    vpr = tasks.vpr(emb, "raw", ctx, SMALL)
    assert vpr[0]["n_queries"] > 0 and 0 <= vpr[0]["R@1"] <= vpr[0]["R@10"] <= 1
    perc = tasks.perception(emb, "raw", ctx, SMALL)
    assert [r["target"] for r in perc] == list(tasks.PERCEPTION)
    assert all(np.isfinite(r["r2"]) and 0 <= r["pairwise_acc"] <= 1 for r in perc)
    socio = tasks.socioeconomic(emb, "raw", ctx, SMALL)
    assert [r["target"] for r in socio] == list(tasks.SOCIOECONOMIC)
    assert all(r["n"] == len(ctx.tracts) for r in socio)
    xv = tasks.cross_view(emb, "raw", ctx, SMALL)
    assert xv[0]["n"] == ctx.manifest["counts"]["locations"]
    assert 1 <= xv[0]["g2o_median_rank"] <= xv[0]["n"]
    # held-out places: both identity tasks score only those
    from engine.evaluate.holdout import heldout_mask

    ctx.heldout = heldout_mask(ctx.xy, 100.0, seed=0)
    try:
        loc = ctx.layer.frame["location_id"].to_numpy()
        held = tasks.cross_view(emb, "raw", ctx, SMALL)
        assert held[0]["n"] == len(set(loc[ctx.heldout])) < xv[0]["n"]
        assert tasks.vpr(emb, "raw", ctx, SMALL)[0]["n_queries"] < vpr[0]["n_queries"]
    finally:
        ctx.heldout = None


def test_claims_are_judged_from_rows() -> None:
    claim = CLAIMS[0]
    rows = [{"encoder": claim.better, "seed": s, "task": claim.task, "target": "place",
             claim.metric: 0.5 + s} for s in range(2)]
    rows += [{"encoder": claim.worse, "seed": s, "task": claim.task, "target": "place",
              claim.metric: 0.4 + s} for s in range(2)]
    res = judge(rows, claim)
    assert res["verdict"] == "reproduced" and res["diff"] == pytest.approx(0.1)
    assert res["wins"] == 2 and res["lo"] == pytest.approx(0.1)
    assert judge(rows[:2], claim)["verdict"] == "not measured"
    rmse = next(c for c in CLAIMS if c.lower_is_better)
    rows = [{"encoder": e, "seed": s, "task": rmse.task, "target": t, rmse.metric: v + s / 10}
            for s in range(2) for e, v in ((rmse.better, 1.0), (rmse.worse, 3.0))
            for t in (*rmse.targets, "income")]
    rows[-1][rmse.metric] = 1e6  # a target outside the claim's targets is ignored
    res = judge(rows, rmse)
    assert res["verdict"] == "reproduced" and res["diff"] == pytest.approx(2.0)


@pytest.mark.slow  # ~30 s alone, > 60 s on the shared 2 cores; still runs in make test
def test_quick_benchmark_end_to_end(small_city: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "BENCHMARK.md"
    proc = subprocess.run(
        [sys.executable, "-m", "engine.evaluate", "--quick", "--city", str(small_city),
         "--work", str(tmp_path / "work"), "--out", str(out), "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    for heading in ("## Protocol (pre-registered)", "## Claims", "Visual place recognition",
                    "Cross-view retrieval",
                    "Socioeconomic regression", "Perception per photo", "map fidelity",
                    "location embeddings", "overhead imagery only", "Real Landsat 7",
                    "## Figures", "## Machine and time"):
        assert heading in text
    for claim in CLAIMS:
        assert claim.text in text
    assert "--quick" in text and "torch:" in text and "torch_cpu_capability:" in text
    # the maps are scored from their GeoTIFFs: no PNG quick-look, and their heads fitted on
    # the overhead field need no photo embeddings (the demo writes both)
    map_tifs = list((tmp_path / "work").rglob("maps/*/maps/*.tif"))
    assert map_tifs and not list((tmp_path / "work").rglob("maps/*/maps/*.png"))
    assert list((tmp_path / "work").rglob("maps/*/embeddings/overhead_field.tif"))
    assert not list((tmp_path / "work").rglob("maps/*/embeddings/photos.gpkg"))
    for fig in ("recall", "retrieval", "maps"):
        assert (out.parent / f"BENCHMARK_{fig}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"(BENCHMARK_{fig}.png)" in text
    doc = json.loads((out.parent / "BENCHMARK_rows.json").read_text())
    encoders = {r["encoder"] for r in doc["rows"]}
    assert {"urbanstcl_self", "urbanstcl_temporal", "urbanstcl_spatial", "crossview_spatial",
            "random-init", "raw pixels", "csp_grid", "raw x,y (RBF)",
            "imagenet effnet-lite0", "landsat self", "landsat self+geo", "mosaiks",
            "lite0_temporal", "lite0_spatial", "lite0_crossview_spatial"} <= encoders
    tasks_run = {r["task"] for r in doc["rows"]}
    assert {"socioeconomic_overhead", "landsat", "map_fidelity", "adapted_perception",
            "adapted_socioeconomic"} <= tasks_run
    recipe = ADAPTED_RECIPES[0]
    for task in ("adapted_perception", "adapted_socioeconomic"):  # the same rows and folds
        mine = [r for r in doc["rows"] if r["task"] == task]
        assert {r["encoder"] for r in mine} == {"imagenet effnet-lite0", recipe,
                                                adapted_name(recipe), STACKED_GROUND}
        assert len({r["n"] for r in mine}) == 1 and all(np.isfinite(r["r2"]) for r in mine)
    assert all(c["verdict"] in ("reproduced", "inconclusive", "not reproduced")
               for c in doc["claims"])
    assert {r["city"] for r in doc["rows"] if r["task"] != "landsat"} == {"0"}
    assert all(c["vs_strongest"] is None or c["vs_strongest"]["worse"] in
               ("raw pixels", "raw x,y (RBF)", "imagenet effnet-lite0", "random-init")
               for c in doc["claims"])
    assert not list(out.parent.glob(".*tmp-*"))


def test_settings_follow_the_city_preset_and_bad_city_is_named(tmp_path: Path) -> None:
    from engine.errors import EngineError
    from engine.evaluate.settings import PRESETS, settings_for

    full_on_small = settings_for("benchmark", "small")
    assert full_on_small.seeds == 3 and full_on_small.steps == PRESETS["benchmark"].steps
    assert full_on_small.image_size == PRESETS["benchmark-quick"].image_size == 32
    assert full_on_small.tract_folds == PRESETS["benchmark-quick"].tract_folds
    assert settings_for("benchmark-quick", seeds=2, steps=7).seeds == 2
    # the demo is a preset of the same pipeline: the same sizes on the same city
    demo = settings_for("demo-quick", "small")
    assert (demo.image_size, demo.chip_px, demo.stride_px, demo.point_block_m) == \
        (full_on_small.image_size, full_on_small.chip_px, full_on_small.stride_px,
         full_on_small.point_block_m)
    with pytest.raises(EngineError, match="city.json"):
        load_city(tmp_path)
    with pytest.raises(EngineError, match="preset 'huge'"):
        settings_for("benchmark-quick", "huge")
