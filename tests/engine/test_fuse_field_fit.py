"""`fit --fuse-field` on the small sample city fits the stacked fusion head (each view's ridge,
combined by weights fitted on spatial out-of-fold predictions), saved as one plain ridge head
(safetensors + JSON) that loads back and predicts what the stack predicts, where a photo and
the overhead field both exist; `map fused` writes those predictions at the photo points as a
styled point layer; a field-only map refuses it in one line, and `map fused` a plain head.
`fit --fuse-embeddings` stacks two embeddings of the same photos the same way."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

ENC = {"backbone": "tiny_cnn", "backbone_kw": {"width": 4, "depth": 2, "out_dim": 16},
       "hidden_dim": 16}
TINY = {"embedding_dim": 16, "image": ENC, "overhead": ENC}
TARGET = "perception_beautiful"


@pytest.fixture(scope="module")
def views(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Photo embeddings and the overhead embedding field of a tiny random model (seed 0)."""
    import torch

    from engine.data.points import read_streetview
    from engine.embed.points import embed_points
    from engine.embed.raster import embed_raster
    from engine.nn.model import GeoModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("fuse")
    model = GeoModel.from_config(TINY).eval()
    photos = root / "photos.gpkg"
    embed_points(model, read_streetview(small_city / "streetview.gpkg"), photos,
                 batch_size=64, image_size=32, num_workers=0, device="cpu")
    raster = sorted((small_city / "overhead").glob("*.tif"))[-1]
    field = root / "field.tif"
    embed_raster(model, raster, field, chip_px=32, stride_px=16, encoder="overhead",
                 device="cpu", preview=False)
    torch.manual_seed(1)  # a second model: the photos' second embedding (--fuse-embeddings)
    photos2 = root / "photos_b.gpkg"
    embed_points(GeoModel.from_config({**TINY, "embedding_dim": 8}).eval(),
                 read_streetview(small_city / "streetview.gpkg"), photos2, batch_size=64,
                 image_size=32, num_workers=0, device="cpu")
    return {"root": root, "photos": photos, "field": field, "photos2": photos2}


def run_cli(argv: list[str]) -> tuple[int, list[dict]]:
    from engine.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main([*argv, "--events", "jsonl"])
    return code, [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def fit_fused(views: dict, out: Path) -> None:
    """`fit --fuse-field` on the photos and the field, 3 spatial folds of 100 m; must succeed."""
    code, events = run_cli(["fit", "--embeddings", str(views["photos"]), "--fuse-field",
                            str(views["field"]), "--target", TARGET, "--block-size", "100",
                            "--folds", "3", "--out", str(out)])
    assert code == 0, events[-1]


def test_fuse_field_fits_the_stacked_head_and_it_loads_back_identically(views: dict) -> None:
    from engine.heads.fused_head import stacked_head, stacked_predict
    from engine.heads.io import load_head
    from engine.heads.spatial_cv import spatial_folds
    from engine.maps.fusion import fuse_rows, fused_predictions
    from engine.maps.rows import point_rows

    out = views["root"] / "heads" / "fused"
    fit_fused(views, out)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "fused.cv.json", "fused.json", "fused.safetensors"]
    report = json.loads((out.parent / "fused.cv.json").read_text())
    assert report["fusion"] == "stack" and len(report["fold_metrics"]) == 3
    head = load_head(out)
    fusion = head.meta["fusion"]
    assert head.kind == "ridge" and fusion["head"] == "stack"
    assert fusion["ground_dim"] == 16 and head.feature_dim == 32
    assert min(fusion["weights"]) >= 0 and head.meta["residual_sd_source"] == "cross-validation"

    rows = fuse_rows(point_rows(views["photos"], TARGET), views["field"])
    assert rows.ground_dim == 16 and np.isfinite(rows.X).all()
    folds = spatial_folds(rows.xy, 100.0, 3, 0, groups=rows.groups)
    stack = stacked_predict(rows.X, rows.y, 16, folds, rows.X)
    np.testing.assert_allclose(head.predict(rows.X), stack, rtol=0, atol=1e-9)
    fresh = stacked_head(rows.X, rows.y, 16, folds, TARGET, seed=0)
    assert np.array_equal(fresh.predict(rows.X), head.predict(rows.X))  # saved == in memory
    # where a photo and the field both exist: the head's own prediction at each photo
    values, xy = fused_predictions(head, point_rows(views["photos"], TARGET), views["field"])
    assert np.array_equal(values[:, 0], head.predict(rows.X)) and len(xy) == len(rows.y)
    assert (values[:, 1] > 0).all()


def test_a_field_only_map_refuses_a_fused_head_in_one_line(views: dict) -> None:
    out = views["root"] / "heads" / "fused_for_map"
    fit_fused(views, out)
    code, events = run_cli(["map", "zero_shot", "--head", str(out), "--field",
                            str(views["field"]), "--out", str(views["root"] / "zs")])
    assert code != 0
    error = events[-1]
    assert "fuse-field" in json.dumps(error) and "both exist" in json.dumps(error), error


def test_map_fused_writes_the_heads_predictions_at_the_photos_as_a_styled_layer(
        views: dict) -> None:
    from engine.heads.io import load_head
    from engine.maps.fusion import fused_predictions
    from engine.maps.rows import point_rows

    head_path = views["root"] / "heads" / "fused_map"
    fit_fused(views, head_path)
    out = views["root"] / "fused_map"
    code, events = run_cli(["map", "fused", "--head", str(head_path), "--embeddings",
                            str(views["photos"]), "--field", str(views["field"]), "--out",
                            str(out)])
    assert code == 0, events[-1]
    result = next(e for e in events if e.get("event") == "result")["outputs"]
    assert result["n_points"] > 0 and (out / "fused.png").is_file()
    import geopandas as gpd

    pts = gpd.read_file(out / "fused.gpkg", layer="fused_points")
    assert len(pts) == result["n_points"]
    # the engine's fused predictions, in the layer's order (every photo of the small city is
    # labelled and on the field, so the rows are the layer's features)
    values, _ = fused_predictions(load_head(head_path), point_rows(views["photos"], TARGET),
                                  views["field"])
    np.testing.assert_allclose(pts["prediction"], values[:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(pts["uncertainty"], values[:, 1], rtol=0, atol=1e-6)
    from engine import api  # the notebook form returns the same layer as a GeoDataFrame

    frame = api.map_fused(head_path, views["photos"], views["field"], views["root"] / "nb")
    np.testing.assert_array_equal(frame["prediction"], pts["prediction"])
    with contextlib.closing(sqlite3.connect(out / "fused.gpkg")) as con:
        style = con.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = ?",
                            ("fused_points",)).fetchone()
    assert style is not None and "graduatedSymbol" in style[0]


def test_map_fused_refuses_a_head_fitted_without_the_field(views: dict) -> None:
    plain = views["root"] / "heads" / "plain"
    code, events = run_cli(["fit", "--embeddings", str(views["photos"]), "--target", TARGET,
                            "--block-size", "100", "--folds", "3", "--out", str(plain)])
    assert code == 0, events[-1]
    code, events = run_cli(["map", "fused", "--head", str(plain), "--embeddings",
                            str(views["photos"]), "--field", str(views["field"]), "--out",
                            str(views["root"] / "fused_plain")])
    assert code != 0 and "--fuse-field" in json.dumps(events[-1]), events[-1]
    assert not (views["root"] / "fused_plain" / "fused.gpkg").exists()


def test_fuse_embeddings_stacks_two_embeddings_of_the_photos_and_maps_them(views: dict) -> None:
    """Two embeddings of the same photos (e.g. frozen backbone + geographic adapter): the
    stacked head on both, saved, mapped at the photos by `map fused --fuse-embeddings`."""
    import geopandas as gpd

    from engine.heads.fused_head import stacked_predict
    from engine.heads.io import load_head
    from engine.heads.spatial_cv import spatial_folds
    from engine.maps.fusion import fuse_embedding_rows
    from engine.maps.rows import point_rows

    head_path = views["root"] / "heads" / "two_embeddings"
    code, events = run_cli(["fit", "--embeddings", str(views["photos"]), "--fuse-embeddings",
                            str(views["photos2"]), "--target", TARGET, "--block-size", "100",
                            "--folds", "3", "--out", str(head_path)])
    assert code == 0, events[-1]
    head = load_head(head_path)
    fusion = head.meta["fusion"]
    assert fusion["second_view"] == "embeddings" and fusion["ground_dim"] == 16
    assert head.feature_dim == 16 + 8
    rows = fuse_embedding_rows(point_rows(views["photos"], TARGET),
                               point_rows(views["photos2"], TARGET))
    folds = spatial_folds(rows.xy, 100.0, 3, 0, groups=rows.groups)
    np.testing.assert_allclose(head.predict(rows.X),
                               stacked_predict(rows.X, rows.y, 16, folds, rows.X),
                               rtol=0, atol=1e-9)
    out = views["root"] / "fused_two"
    code, events = run_cli(["map", "fused", "--head", str(head_path), "--embeddings",
                            str(views["photos"]), "--fuse-embeddings", str(views["photos2"]),
                            "--out", str(out)])
    assert code == 0, events[-1]
    pts = gpd.read_file(out / "fused.gpkg", layer="fused_points")
    np.testing.assert_allclose(pts["prediction"], head.predict(rows.X), rtol=0, atol=1e-6)
    # the second view must be the one the head was fitted with, and only one of them
    for extra, says in ((["--field", str(views["field"])], "--fuse-embeddings"),
                        (["--field", str(views["field"]), "--fuse-embeddings",
                          str(views["photos2"])], "one of them")):
        code, events = run_cli(["map", "fused", "--head", str(head_path), "--embeddings",
                                str(views["photos"]), *extra, "--out",
                                str(views["root"] / "fused_bad")])
        assert code != 0 and says in json.dumps(events[-1]), events[-1]
    assert not (views["root"] / "fused_bad" / "fused.gpkg").exists()


def test_fuse_embeddings_refuses_layers_of_other_photos(views: dict) -> None:
    from dataclasses import replace

    from engine.errors import EngineError
    from engine.maps.fusion import fuse_embedding_rows
    from engine.maps.rows import point_rows

    a = point_rows(views["photos"], TARGET)
    b = point_rows(views["photos2"], TARGET)
    fewer = replace(b, X=b.X[1:], y=b.y[1:], xy=b.xy[1:])
    with pytest.raises(EngineError, match="same labelled places"):
        fuse_embedding_rows(a, fewer)
    code, events = run_cli(["fit", "--embeddings", str(views["photos"]), "--fuse-embeddings",
                            str(views["photos2"]), "--fuse-field", str(views["field"]),
                            "--target", TARGET, "--out", str(views["root"] / "heads" / "x")])
    assert code != 0 and "both given" in json.dumps(events[-1]), events[-1]
