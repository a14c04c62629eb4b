"""Every map kind on the small sample city with a tiny (untrained) model: a GeoTIFF on the
field's grid and CRS, a styled GeoPackage and a PNG, written through `python -m engine map`."""

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
TINY = {"embedding_dim": 16, "image": ENC, "overhead": ENC, "location": {"name": "rff"},
        "time": {"hidden_dim": 8}}


@pytest.fixture(scope="module")
def setup(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny cross-view model (recipe: cross_view conditioned on the overhead side), photo
    embeddings, the overhead embedding field of the latest date and a ridge head."""
    import torch

    from engine.data.points import read_streetview
    from engine.embed.points import embed_points
    from engine.embed.raster import embed_raster
    from engine.maps.fit import fit_rows
    from engine.maps.rows import point_rows
    from engine.models.weights import save_model
    from engine.nn.model import GeoModel

    torch.set_num_threads(1)
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("maps")
    model = GeoModel.from_config(TINY).eval()
    save_model(model, root / "model", extra_config={
        "objectives": {"cross_view": {"weight": 1.0, "condition": "overhead"}}})
    photos = root / "photos.gpkg"
    embed_points(model, read_streetview(small_city / "streetview.gpkg"), photos,
                 image_size=32, num_workers=0, device="cpu")
    raster = sorted((small_city / "overhead").glob("*.tif"))[-1]
    field = root / "field.tif"
    embed_raster(model, raster, field, chip_px=32, stride_px=16, encoder="overhead",
                 device="cpu", preview=False)
    fit_rows(point_rows(photos, "perception_beautiful"), root / "head", "ridge",
             "perception_beautiful", 100.0, 3)
    return {"root": root, "model": root / "model", "photos": photos, "field": field,
            "head": root / "head", "city": small_city}


def run_map(argv: list[str]) -> dict:
    from engine.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["map", *argv, "--events", "jsonl"])
    events = [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]
    assert code == 0, events[-1]
    # the log names the outputs, not their scratch copies (gone when the log is read)
    assert not [e for e in events if ".gc-" in e.get("message", "")]
    return events[-1]["outputs"]


def style_of(gpkg: str, layer: str) -> str:
    with contextlib.closing(sqlite3.connect(gpkg)) as con:
        row = con.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = ?",
                          (layer,)).fetchone()
    assert row is not None, f"no style for {layer}"
    return row[0]


def check_outputs(out: dict, field: Path, bands: tuple[str, ...], renderer: str) -> np.ndarray:
    """GeoTIFF on the field's grid; styled cells layer; PNG. Returns band 1."""
    import pyogrio
    import rasterio
    from PIL import Image

    with rasterio.open(field) as f, rasterio.open(out["geotiff"]) as m:
        assert m.crs == f.crs and m.transform == f.transform
        assert (m.width, m.height) == (f.width, f.height)
        assert m.descriptions == bands
        band1 = m.read(1)
        assert np.isfinite(band1).sum() > 0.5 * band1.size
    cells = pyogrio.read_dataframe(out["gpkg"], layer=out["cells_layer"])
    assert len(cells) == np.isfinite(band1).sum() and set(bands[1:]) <= set(cells.columns)
    assert f'type="{renderer}"' in style_of(out["gpkg"], out["cells_layer"])
    with Image.open(out["png"]) as im:
        assert im.format == "PNG" and min(im.size) > 100
    return band1


def test_zero_shot_map_with_tracts(setup: dict, tmp_path: Path) -> None:
    import pyogrio

    out = run_map(["zero_shot", "--head", str(setup["head"]), "--field", str(setup["field"]),
                   "--polygons", str(setup["city"] / "tracts.gpkg"), "--id-field", "tract_id",
                   "--out", str(tmp_path), "--name", "beautiful"])
    check_outputs(out, setup["field"], ("prediction", "uncertainty"), "graduatedSymbol")
    tracts = pyogrio.read_dataframe(out["gpkg"], layer=out["polygons_layer"])
    assert len(tracts) == 9 and {"prediction", "uncertainty", "n_pixels"} <= set(tracts.columns)
    assert (tracts["uncertainty"] >= 0).all() and (tracts["n_pixels"] > 0).all()
    assert 'attr="prediction"' in style_of(out["gpkg"], out["polygons_layer"])
    assert Path(out["geotiff"]).with_suffix(".qml").is_file()
    # the same map again without polygons: its per-polygon layer and quick-look go, a layer
    # the user added to the GeoPackage stays
    pyogrio.write_dataframe(tracts, out["gpkg"], layer="my_notes", driver="GPKG")
    again = run_map(["zero_shot", "--head", str(setup["head"]), "--field",
                     str(setup["field"]), "--out", str(tmp_path), "--name", "beautiful"])
    assert "polygons_layer" not in again
    assert not (tmp_path / "beautiful_polygons.png").exists()
    layers = sorted(str(r[0]) for r in pyogrio.list_layers(again["gpkg"]))
    assert layers == ["beautiful_cells", "layer_styles", "my_notes"]
    assert len(pyogrio.read_dataframe(again["gpkg"], layer="my_notes")) == 9
    with contextlib.closing(sqlite3.connect(again["gpkg"])) as con:
        registered = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
        styled = {r[0] for r in con.execute("SELECT f_table_name FROM layer_styles")}
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert "beautiful_polygons" not in registered | styled
    (tmp_path / "mine").mkdir()
    run_map(["zero_shot", "--head", str(setup["head"]), "--field", str(setup["field"]),
             "--polygons", str(setup["city"] / "tracts.gpkg"), "--out", str(tmp_path / "mine"),
             "--name", "b"])
    again = run_map(["zero_shot", "--head", str(setup["head"]), "--field",
                     str(setup["field"]), "--out", str(tmp_path / "mine"), "--name", "b"])
    assert [str(r[0]) for r in pyogrio.list_layers(again["gpkg"])] == ["b_cells",
                                                                        "layer_styles"]
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [
        "b.gpkg", "b.png", "b.qml", "b.tif"]


def test_time_map_follows_the_datetime(setup: dict, tmp_path: Path) -> None:
    args = ["time", "--model", str(setup["model"]), "--head", str(setup["head"]), "--field",
            str(setup["field"])]
    summer = run_map([*args, "--datetime", "2023-07-12T14:00:00Z", "--out", str(tmp_path),
                      "--name", "summer"])
    winter = run_map([*args, "--datetime", "2023-01-10T07:00:00Z", "--out", str(tmp_path),
                      "--name", "winter"])
    a = check_outputs(summer, setup["field"], ("prediction", "uncertainty"), "graduatedSymbol")
    b = check_outputs(winter, setup["field"], ("prediction", "uncertainty"), "graduatedSymbol")
    ok = np.isfinite(a) & np.isfinite(b)
    assert np.abs(a[ok] - b[ok]).max() > 1e-6  # the time changes the map


def test_time_map_refuses_a_ground_conditioned_model(setup: dict, tmp_path: Path) -> None:
    import shutil

    from engine.errors import EngineError
    from engine.maps.time_map import time_map

    other = tmp_path / "model"
    shutil.copytree(setup["model"], other)
    cfg = other / "config.yaml"
    cfg.write_text(cfg.read_text().replace("condition: overhead", "condition: ground"))
    with pytest.raises(EngineError, match="overhead side conditioned"):
        time_map(other, setup["head"], setup["field"], "2023-07-12T14:00:00Z", tmp_path)


def test_similarity_map_is_highest_at_the_example(setup: dict, tmp_path: Path) -> None:
    from engine.maps.field import field_info

    info = field_info(setup["field"])
    t = info["transform"]
    row, pc, nc = info["height"] // 2, info["width"] // 3, 2 * info["width"] // 3
    px, py = t * (pc + 0.5, row + 0.5)
    nx, ny = t * (nc + 0.5, row + 0.5)
    base = ["similarity", "--field", str(setup["field"]), "--crs", "EPSG:32617"]
    out = run_map([*base, "--positive", f"{px},{py}", "--out", str(tmp_path / "pos")])
    sim = check_outputs(out, setup["field"], ("similarity", "spread"), "graduatedSymbol")
    assert sim[row, pc] == pytest.approx(1.0, abs=1e-4)  # cosine of the example with itself
    assert sim[row, pc] == pytest.approx(np.nanmax(sim), abs=1e-5)
    out = run_map([*base, "--positive", f"{px},{py}", "--negative", f"{nx},{ny}",
                   "--out", str(tmp_path / "posneg")])
    sim = check_outputs(out, setup["field"], ("similarity", "spread"), "graduatedSymbol")
    assert out["positives"] == 1 and out["negatives"] == 1
    assert sim[row, pc] > 0 > sim[row, nc]
    # the same examples as a point layer with a like/unlike field
    import geopandas as gpd
    import shapely

    from engine.cli.main import main

    examples = tmp_path / "examples.gpkg"
    gpd.GeoDataFrame({"liked": ["Yes", "no", None], "note": ["maybe", "later", "?"]},
                     crs="EPSG:32617", geometry=[shapely.Point(px, py), shapely.Point(nx, ny),
                                                 shapely.Point(px, ny)]
                     ).to_file(examples, driver="GPKG")
    layer = [*base[:3], "--examples", str(examples), "--out", str(tmp_path / "layer")]
    out = run_map([*layer, "--example-field", "liked"])
    assert out["positives"] == 1 and out["negatives"] == 1  # an empty label is neither
    for field, message in (("like", "has no field 'like'"),
                           ("note", "is marked positive in field 'note'")):
        buf = io.StringIO()
        with redirect_stdout(buf):
            code = main(["map", *layer, "--example-field", field, "--events", "jsonl"])
        event = json.loads(buf.getvalue().splitlines()[-1])
        assert code == 2 and message in event["message"], event
    # a GeoPackage whose first layer is the tracts: the example points are found, quietly
    import warnings

    both = tmp_path / "both.gpkg"
    gpd.read_file(setup["city"] / "tracts.gpkg").to_file(both, layer="tracts", driver="GPKG")
    gpd.read_file(examples).to_file(both, layer="picks", driver="GPKG")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="More than one layer")  # pyogrio's
        out = run_map([*base[:3], "--examples", str(both), "--example-field", "liked",
                       "--out", str(tmp_path / "both")])
    assert out["positives"] == 1 and out["negatives"] == 1


def test_fewshot_map_classes_and_confidence(setup: dict, tmp_path: Path) -> None:
    import geopandas as gpd
    import pyogrio

    from engine.maps.rows import read_point_layer

    gdf, _, _ = read_point_layer(setup["photos"])
    cls = np.where(gdf["perception_beautiful"] > gdf["perception_beautiful"].median(),
                   "green", "grey")
    pts = gpd.GeoDataFrame({"cover": cls}, geometry=gdf.geometry.values, crs=gdf.crs)
    pyogrio.write_dataframe(pts, tmp_path / "labels.gpkg", layer="labels")
    out = run_map(["fewshot", "--field", str(setup["field"]), "--points",
                   str(tmp_path / "labels.gpkg"), "--class-field", "cover", "--block-size",
                   "100", "--out", str(tmp_path)])
    idx = check_outputs(out, setup["field"], ("class_index", "confidence"), "categorizedSymbol")
    assert out["classes"] == ["green", "grey"]
    assert set(np.unique(idx[np.isfinite(idx)])) <= {0.0, 1.0}
    cells = pyogrio.read_dataframe(out["gpkg"], layer=out["cells_layer"])
    assert set(cells["class"]) <= {"green", "grey"}
    assert ((cells["confidence"] >= 0.5 - 1e-9) & (cells["confidence"] <= 1.0)).all()
    # numbered classes come in number order (class_index 2 meant class "10" before)
    rank = gdf["perception_beautiful"].rank(method="first").to_numpy()
    pts["zone"] = np.digitize(rank, np.quantile(rank, [0.25, 0.5, 0.75])) * 4 + 2  # 2..14
    pyogrio.write_dataframe(pts, tmp_path / "zones.gpkg", layer="zones")
    out = run_map(["fewshot", "--field", str(setup["field"]), "--points",
                   str(tmp_path / "zones.gpkg"), "--class-field", "zone", "--block-size",
                   "100", "--out", str(tmp_path / "zones")])
    assert out["classes"] == ["2", "6", "10", "14"]
    cells = pyogrio.read_dataframe(out["gpkg"], layer=out["cells_layer"])
    names = np.array(out["classes"])
    assert (names[cells["class_index"].astype(int)] == cells["class"]).all()


def test_location_map_over_a_grid(setup: dict, tmp_path: Path) -> None:
    import rasterio

    out = run_map(["location", "--model", str(setup["model"]), "--embeddings",
                   str(setup["photos"]), "--target", "perception_beautiful", "--step", "25",
                   "--block-size", "100", "--out", str(tmp_path)])
    with rasterio.open(out["geotiff"]) as m:
        assert m.crs.to_epsg() == 32617 and m.res == (25.0, 25.0)
        assert m.descriptions == ("prediction", "uncertainty")
    assert "r2" in out["cv"]
    assert 'type="graduatedSymbol"' in style_of(out["gpkg"], out["cells_layer"])
    # the grid is the same encoder's embeddings as the points the head was fitted on: the
    # check scores the head's out-of-fold predictions there, not the map read back in-sample
    from engine.heads.io import load_head
    from engine.maps.validity import OOF_NOTE

    head = load_head(out["head"])
    oof, y = head.arrays["places_oof"], head.arrays["places_y"]
    assert out["validity"]["note"] == OOF_NOTE
    assert out["validity"]["r"] == pytest.approx(float(np.corrcoef(oof, y)[0, 1]))


def test_map_errors_name_the_missing_argument(setup: dict, tmp_path: Path) -> None:
    from engine.cli.main import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["map", "zero_shot", "--field", str(setup["field"]), "--out",
                     str(tmp_path), "--events", "jsonl"])
    assert code == 2 and "--head" in json.loads(buf.getvalue().splitlines()[-1])["message"]
    buf = io.StringIO()
    with redirect_stdout(buf):  # a name reaching out of --out: refused before anything runs
        code = main(["map", "zero_shot", "--field", str(setup["field"]), "--head",
                     str(setup["head"]), "--out", str(tmp_path / "maps"), "--name",
                     "../escaped", "--events", "jsonl"])
    message = json.loads(buf.getvalue().splitlines()[-1])["message"]
    assert code == 2 and "'../escaped' is not a plain file name" in message
    assert not any(tmp_path.iterdir())


def test_fit_tract_labels_from_field_pixels(setup: dict, tmp_path: Path) -> None:
    from engine.cli.main import main
    from engine.heads.io import load_head

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["fit", "--field", str(setup["field"]), "--polygons",
                     str(setup["city"] / "tracts.gpkg"), "--target", "pop_density",
                     "--block-size", "150", "--folds", "3", "--out", str(tmp_path / "dens"),
                     "--events", "jsonl"])
    result = json.loads(buf.getvalue().splitlines()[-1])
    assert code == 0, result
    assert result["outputs"]["n_rows"] == 9  # every tract holds field pixels
    assert load_head(tmp_path / "dens").feature_dim == 16


def test_grid_cells_of_a_large_map_are_read_decimated(tmp_path: Path) -> None:
    from affine import Affine

    from engine.export.geotiff import write_geotiff
    from engine.maps.outputs import grid_cells

    a = np.arange(2 * 60 * 80, dtype=np.float32).reshape(2, 60, 80)
    a[:, :10, :10] = np.nan
    t = Affine(5, 0, 328000, 0, -5, 4421300)
    tif = write_geotiff(a, "EPSG:32617", t, tmp_path / "m.tif")
    full = grid_cells(tif)
    assert len(full) == 60 * 80 - 100
    small = grid_cells(tif, max_cells=1200)
    assert len(small) <= 1200 and small.crs == full.crs
    np.testing.assert_allclose(small.total_bounds, full.total_bounds)
    assert np.nanmean(small["band1"]) == pytest.approx(np.nanmean(full["band1"]), rel=0.02)
