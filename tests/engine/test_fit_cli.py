"""`python -m engine fit` on the small sample city: a CV report and a loadable head."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

TINY = {"embedding_dim": 16,
        "image": {"backbone": "tiny_cnn", "backbone_kw": {"width": 4, "depth": 2, "out_dim": 16},
                  "hidden_dim": 16}}


@pytest.fixture(scope="module")
def photo_embeddings(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point embeddings of the small city's photos from a tiny random model (seed 0)."""
    import torch

    from engine.data.points import read_streetview
    from engine.embed.points import embed_points
    from engine.nn.model import GeoModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GeoModel.from_config(TINY).eval()
    out = tmp_path_factory.mktemp("fit") / "photos.gpkg"
    embed_points(model, read_streetview(small_city / "streetview.gpkg"), out, batch_size=64,
                 image_size=32, num_workers=0, device="cpu")
    return out


def run_cli(argv: list[str]) -> tuple[int, list[dict]]:
    from engine.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main([*argv, "--events", "jsonl"]) if argv else 1
    return code, [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_fit_points_writes_a_cv_report_and_a_loadable_head(photo_embeddings: Path,
                                                          tmp_path: Path) -> None:
    from engine.heads.io import load_head
    from engine.maps.rows import read_point_layer

    out = tmp_path / "heads" / "beautiful"
    code, events = run_cli(["fit", "--embeddings", str(photo_embeddings), "--target",
                            "perception_beautiful", "--head", "ridge", "--block-size", "100",
                            "--folds", "3", "--out", str(out)])
    assert code == 0, events
    result = events[-1]["outputs"]
    assert {"r2", "mae", "spearman"} <= set(result["metrics"])
    assert "r2" in result["summary"] and "[" in result["summary"]  # mean [95% CI]
    assert any(e["event"] == "progress" and e["stage"] == "cross-validate" for e in events)
    report = json.loads((tmp_path / "heads" / "beautiful.cv.json").read_text())
    assert report["n_folds"] == 3 and len(report["fold_metrics"]) == 3
    assert report["target"] == "perception_beautiful"
    assert set(report["ci95"]) == {"r2", "mae", "spearman"}
    gdf, X, _ = read_point_layer(photo_embeddings)
    assert report["n_rows"] == len(gdf)
    head = load_head(out)
    pred, unc = head.predict_with_uncertainty(X[:5])
    assert pred.shape == (5,) and np.isfinite(pred).all() and (unc >= 0).all()
    # no pickle anywhere: the head is safetensors + JSON
    assert sorted(p.name for p in (tmp_path / "heads").iterdir()) == [
        "beautiful.cv.json", "beautiful.json", "beautiful.safetensors"]


def test_fit_polygon_labels_aggregate_points_per_tract(photo_embeddings: Path, small_city: Path,
                                                      tmp_path: Path) -> None:
    from engine.heads.io import load_head

    code, events = run_cli(["fit", "--embeddings", str(photo_embeddings), "--polygons",
                            str(small_city / "tracts.gpkg"), "--target", "income", "--head",
                            "knn", "--block-size", "150", "--folds", "3",
                            "--out", str(tmp_path / "income")])
    assert code == 0, events
    result = events[-1]["outputs"]
    assert 3 <= result["n_rows"] <= 9  # one row per tract holding photos (3 x 3 tracts)
    head = load_head(tmp_path / "income")
    assert head.kind == "knn" and head.task == "regression"
    assert head.meta["target"] == "income"


def test_fit_names_a_missing_field_and_a_missing_source(photo_embeddings: Path,
                                                        tmp_path: Path) -> None:
    code, events = run_cli(["fit", "--embeddings", str(photo_embeddings), "--target", "nope",
                            "--out", str(tmp_path / "h")])
    assert code == 2
    assert "'nope'" in events[-1]["message"] and "perception_beautiful" in events[-1]["hint"]
    code, events = run_cli(["fit", "--target", "income", "--out", str(tmp_path / "h")])
    assert code == 2 and "--embeddings" in events[-1]["hint"]
    assert not (tmp_path / "h.json").exists()


def test_fit_refuses_a_target_it_cannot_learn(photo_embeddings: Path, tmp_path: Path) -> None:
    """One value everywhere (every CV score NaN, a flat map whose label crashed), or a
    continuous quantity given to a classifier: named, with what to do instead."""
    import shutil
    import sqlite3

    from engine.maps.rows import embedding_layer

    copy = tmp_path / "photos.gpkg"
    shutil.copyfile(photo_embeddings, copy)
    with sqlite3.connect(copy) as con:
        con.execute(f'ALTER TABLE "{embedding_layer(copy)}" ADD COLUMN const REAL DEFAULT 3.0')
    code, events = run_cli(["fit", "--embeddings", str(copy), "--target", "const",
                            "--out", str(tmp_path / "h")])
    assert code == 2 and "is 3.0 at all" in events[-1]["message"], events[-1]
    code, events = run_cli(["fit", "--embeddings", str(copy), "--target",
                            "perception_beautiful", "--head", "logistic",
                            "--out", str(tmp_path / "h")])
    assert code == 2 and "continuous" in events[-1]["message"], events[-1]
    assert "--head ridge" in events[-1]["hint"]
    assert not (tmp_path / "h.json").exists()


def test_default_blocks_fit_a_small_city_and_a_head_without_skill_is_flagged(
        photo_embeddings: Path, small_city: Path, tmp_path: Path) -> None:
    """The small city's 9 tracts all fell in one block of 2 x their diameter, so `fit` failed
    at its defaults; smaller blocks (down to one diameter) are tried first, and said. A head
    whose CV R² is below 0 (worse than the labels' mean) says so in the result and the log."""
    import numpy as np

    from engine.heads.metrics import no_skill

    code, events = run_cli(["fit", "--embeddings", str(photo_embeddings), "--polygons",
                            str(small_city / "tracts.gpkg"), "--target", "income",
                            "--out", str(tmp_path / "income")])
    assert code == 0, events[-1]
    result = events[-1]["outputs"]
    assert "fell in a single block" in result["cv_plan"]["block_size_source"]
    assert result["cv_plan"]["folds_used"] >= 2
    warned = any(e.get("event") == "log" and "has no skill" in e.get("message", "")
                 for e in events)
    assert ("no_skill" in result) == (result["metrics"]["r2"] < 0) == warned
    y = np.array([1.0, 2.0, 3.0])
    assert "R² -0.500 < 0" in no_skill({"r2": -0.5}, y) and no_skill({"r2": 0.1}, y) is None
    classes = np.array(["a", "a", "a", "b"])
    assert "below 0.750" in no_skill({"accuracy": 0.5}, classes)
    assert no_skill({"accuracy": 0.8}, classes) is None


def test_reports_and_heads_are_standard_json(tmp_path: Path) -> None:
    """A fold with one test row has r2 NaN: the report held a bare NaN, which strict JSON
    readers (jq, JavaScript, QGIS) refuse. Non-finite numbers are written as null."""
    import json

    import numpy as np

    from engine.export.jsontext import dumps
    from engine.heads.head import Head
    from engine.heads.io import load_head, save_head

    text = dumps({"r2": float("nan"), "folds": [np.float64("inf"), 1.0], "a": np.arange(2)})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "r2": None, "folds": [None, 1.0], "a": [0, 1]}
    head = Head("ridge", "regression", {"coef": np.ones((1, 2)), "intercept": np.zeros(1)},
                {"feature_dim": 2, "metrics": {"r2": float("nan")}})
    _, js = save_head(head, tmp_path / "h")
    json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert load_head(tmp_path / "h").meta["metrics"] == {"r2": None}
