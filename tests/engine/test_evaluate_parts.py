"""The benchmark's newer parts on the small sample city: the overhead tract task, the
location baseline, retrieval examples, seed-free baselines in the claims, and the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.evaluate import tasks
from engine.evaluate.baselines import RawPixelEmbedder
from engine.evaluate.claims import CLAIMS, judge
from engine.evaluate.context import load_city
from engine.evaluate.settings import Settings

SMALL = Settings(preset="small", image_size=32, chip_px=32, point_block_m=100.0,
                 tract_block_m=150.0, point_folds=4, tract_folds=3, n_pairs=2000)


@pytest.fixture(scope="module")
def ctx(small_city: Path):
    torch.set_num_threads(1)
    return load_city(small_city)


def test_overhead_tract_task_reads_a_grid_inside_the_city_once(ctx) -> None:
    from engine.evaluate.overhead_tasks import grid_chips, socioeconomic_overhead

    xy, chips = grid_chips(ctx, 32, spacing_m=50.0)
    xmin, ymin, xmax, ymax = ctx.manifest["bounds"]
    assert len(xy) == int((xmax - xmin) // 50) * int((ymax - ymin) // 50)
    assert (xy[:, 0] > xmin).all() and (xy[:, 0] < xmax).all() and (xy[:, 1] > ymin).all()
    assert chips.shape == (len(xy), 3, 32, 32) and chips.dtype == np.uint8 and chips.any()
    assert grid_chips(ctx, 32, spacing_m=50.0)[1] is chips  # cached, not read again

    rows = socioeconomic_overhead(RawPixelEmbedder(32), "raw", ctx, SMALL)
    assert [r["target"] for r in rows] == list(tasks.SOCIOECONOMIC)
    assert all(r["task"] == "socioeconomic_overhead" and np.isfinite(r["r2_pooled"])
               for r in rows)
    assert socioeconomic_overhead(object(), "none", ctx, SMALL) == []  # no overhead side


def test_the_overhead_grid_follows_the_settings_spacing(ctx) -> None:
    from dataclasses import replace

    from engine.evaluate.overhead_tasks import grid_features

    emb = RawPixelEmbedder(32)
    coarse = replace(SMALL, chip_px=32, overhead_grid_m=50.0)
    xy50, f50 = grid_features(emb, "raw", ctx, coarse)
    xy25, f25 = grid_features(emb, "raw", ctx, replace(coarse, overhead_grid_m=25.0))
    assert len(xy25) == len(f25) >= 3 * len(xy50) and len(xy50) == len(f50)
    assert grid_features(emb, "raw", ctx, coarse)[1] is f50  # each spacing cached apart


def test_location_baseline_uses_only_coordinates(ctx) -> None:
    rows = tasks.location_baseline(ctx, SMALL)
    assert [r["target"] for r in rows] == list(tasks.SOCIOECONOMIC)
    assert all(np.isfinite(r["r2_pooled"]) and r["n_fold_min"] >= 1 for r in rows)
    feats = tasks.rbf_features(ctx.xy, ctx.manifest["bounds"])
    assert feats.shape == (len(ctx.xy), 27) and feats.min() >= 0 and feats.max() <= 1


def test_retrieval_examples_flag_true_matches(ctx) -> None:
    from engine.evaluate.examples import retrieval_examples

    n = len(ctx.xy)
    # a perfect embedding: one-hot of the location -> every top-1 is the same place
    loc = ctx.layer.frame["location_id"].to_numpy()
    heading_bin = np.round(np.nan_to_num(ctx.heading) / 90).astype(int) % 4
    code = np.unique(loc * 4 + heading_bin, return_inverse=True)[1]
    perfect = np.eye(code.max() + 1, dtype=np.float32)[code]
    noise = np.random.default_rng(0).normal(size=(n, 16)).astype(np.float32)
    ex = retrieval_examples(ctx, {"perfect": perfect, "noise": noise}, SMALL, n_queries=3, k=2)
    assert len(ex["queries"]) == 3 and ex["k"] == 2
    assert all(res[0]["hit"] for res in ex["encoders"]["perfect"])
    assert all(Path(r["path"]).is_file() for res in ex["encoders"]["noise"] for r in res)


def test_a_seed_free_baseline_is_compared_with_every_seed() -> None:
    from engine.evaluate.baselines import COORDS

    claim = next(c for c in CLAIMS if c.worse == COORDS)
    rows = [{"encoder": claim.better, "seed": s, "task": claim.task, "target": "income",
             claim.metric: v} for s, v in enumerate((0.5, 0.1, 0.6))]
    rows.append({"encoder": claim.worse, "seed": 0, "task": claim.task, "target": "income",
                 claim.metric: 0.3})
    res = judge(rows, claim)
    assert res["n_seeds"] == 3 and res["wins"] == 2
    assert res["diff"] == pytest.approx((0.2 - 0.2 + 0.3) / 3)
    # one city, three seeds: the t-interval over seeds contains zero
    assert res["lo"] < 0 < res["hi"] and res["verdict"] == "inconclusive"


def test_figures_are_pngs(ctx, tmp_path: Path) -> None:
    from engine.evaluate.examples import retrieval_examples
    from engine.evaluate.figures import map_figure, recall_figure, retrieval_figure

    emb = RawPixelEmbedder(32).embed_photos(ctx.layer.frame["image"].astype(str).tolist())
    ex = retrieval_examples(ctx, {"raw": emb}, SMALL, n_queries=2, k=3)
    assert retrieval_figure(ex, tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    truth = ctx.city / "truth"
    fake_map = tmp_path / "enc" / "maps"
    fake_map.mkdir(parents=True)
    (fake_map / "income.tif").write_bytes((truth / "income.tif").read_bytes())
    m = map_figure({"targets": ["income"], "maps": {"enc": str(tmp_path / "enc")},
                    "truth_dir": str(truth)}, tmp_path / "m.png")
    assert m.read_bytes()[:4] == b"\x89PNG"
    rows = [{"encoder": "a", "seed": 0, "task": "vpr", "target": "place", "R@1": 0.1,
             "R@5": 0.2, "R@10": 0.3}]
    assert recall_figure(rows, tmp_path / "k.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_retrieval_rows_draws_no_empty_recall_figure(tmp_path: Path) -> None:
    from engine.evaluate.report import figures

    rows = [{"encoder": "a", "seed": 0, "task": "adapted_socioeconomic", "target": "income",
             "r2_pooled": 0.8}]
    assert figures(tmp_path / "B.md", {"rows": rows}) == []
    assert not (tmp_path / "B_recall.png").exists()
    rows.append({"encoder": "a", "seed": 0, "task": "cross_view", "target": "place",
                 "g2o_R@1": 0.1, "g2o_R@5": 0.2, "g2o_R@10": 0.3})
    assert [cap for cap, _ in figures(tmp_path / "B.md", {"rows": rows})] == ["Recall@K"]


def test_table_shows_the_test_size_of_a_task() -> None:
    from engine.evaluate.report import task_table

    rows = [{"encoder": "a", "seed": s, "task": "landsat", "target": "k=5", "accuracy": 0.5,
             "macro_f1": 0.4, "n": n} for s, n in ((0, 2436), (1, 2436))]
    line = next(ln for ln in task_table(rows, "landsat") if ln.startswith("| a |"))
    assert line.endswith("| 2436 |")
    rows[1]["n"] = 2400
    line = next(ln for ln in task_table(rows, "landsat") if ln.startswith("| a |"))
    assert line.endswith("| 2400–2436 |")
