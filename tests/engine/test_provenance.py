"""A head meets only features of the model it was fitted on: two tiny models of the same
dimension (a retrained model, or a model of another folder), the head of one applied to the
other's field is refused by every map that applies a saved head, naming both models; a
renamed model folder keeps its identity."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from test_maps import TINY  # the maps' tiny cross-view model (16-d)

from engine.errors import EngineError


@pytest.fixture(scope="module")
def two(small_city: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Models a and b (same architecture, other weights), each with its photo embeddings and
    overhead field, made through the commands a user runs; a ridge head on a's photos and a
    fused head on a's photos + a's field."""
    import torch

    from engine.api import commands
    from engine.models.weights import save_model
    from engine.nn.model import GeoModel

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("provenance")
    raster = sorted((small_city / "overhead").glob("*.tif"))[-1]
    out: dict = {"root": root, "city": small_city}
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        save_model(GeoModel.from_config(TINY).eval(), root / name, extra_config={
            "objectives": {"cross_view": {"weight": 1.0, "condition": "overhead"}}})
        commands.embed_points(root / name, small_city / "streetview.gpkg",
                              root / f"{name}_photos.gpkg", image_size=32, workers=0)
        commands.embed_raster(root / name, raster, root / f"{name}_field.tif", chip=32,
                              stride=16, encoder="overhead", preview=False)
    commands.fit(root / "head_a", "perception_beautiful", embeddings=root / "a_photos.gpkg",
                 block_size=100.0, folds=3)
    commands.fit(root / "fused_a", "perception_beautiful", embeddings=root / "a_photos.gpkg",
                 fuse_field=root / "a_field.tif", block_size=100.0, folds=3)
    return out


def test_the_head_records_the_model_of_its_features(two: dict) -> None:
    from engine.heads.io import load_head
    from engine.maps.provenance import made_by
    from engine.models.folder import ModelFolder

    a = ModelFolder.open(two["root"] / "a")
    head = load_head(two["root"] / "head_a")
    assert head.meta["features"] == {"model": "a", "model_id": a.identity, "encoder": "image"}
    assert a.identity.startswith("sha256:") and a.identity != ModelFolder.open(
        two["root"] / "b").identity
    assert made_by(two["root"] / "a_field.tif") == {**head.meta["features"],
                                                    "encoder": "overhead"}
    fused = load_head(two["root"] / "fused_a")
    assert fused.meta["features"]["second"] == {"model": "a", "model_id": a.identity,
                                                "encoder": "overhead"}
    renamed = two["root"] / "renamed"
    shutil.copytree(two["root"] / "a", renamed)
    assert ModelFolder.open(renamed).identity == a.identity  # the weights, not the folder


def test_another_models_field_is_refused_by_every_map(two: dict, tmp_path: Path) -> None:
    from engine.api import commands

    r = two["root"]
    wrong = "the head of 'perception_beautiful' was fitted on features of model 'a'"
    with pytest.raises(EngineError, match=wrong) as err:
        commands.map_zero_shot(r / "head_a", r / "b_field.tif", tmp_path / "zs")
    assert "comes from model 'b'" in err.value.message
    with pytest.raises(EngineError, match=wrong):
        commands.map_predict(r / "head_a", r / "b_field.tif", tmp_path / "pr")
    with pytest.raises(EngineError, match=wrong):
        commands.map_time(r / "b", r / "head_a", r / "a_field.tif", "2023-07-12T14:00:00Z",
                          tmp_path / "tm")
    with pytest.raises(EngineError, match=wrong):
        commands.map_fused(r / "fused_a", r / "b_photos.gpkg", r / "a_field.tif",
                           tmp_path / "fu")
    with pytest.raises(EngineError, match=wrong):
        commands.map_fused(r / "fused_a", r / "a_photos.gpkg", r / "b_field.tif",
                           tmp_path / "fu")
    assert not any(p.suffix == ".tif" for p in tmp_path.rglob("*"))
    # the model's own field, and the model under another folder name, map as before
    shutil.copytree(r / "a", tmp_path / "a_copy")
    res = commands.map_time(tmp_path / "a_copy", r / "head_a", r / "a_field.tif",
                            "2023-07-12T14:00:00Z", tmp_path / "ok")
    assert Path(res["geotiff"]).is_file()
    assert Path(commands.map_fused(r / "fused_a", r / "a_photos.gpkg", r / "a_field.tif",
                                   tmp_path / "ok")["gpkg"]).is_file()


def test_the_cli_names_both_models(two: dict, tmp_path: Path) -> None:
    from engine.cli.main import main

    r = two["root"]
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["map", "zero_shot", "--head", str(r / "head_a"), "--field",
                     str(r / "b_field.tif"), "--out", str(tmp_path), "--events", "jsonl"])
    last = json.loads(buf.getvalue().splitlines()[-1])
    assert code != 0 and "model 'a'" in last["message"] and "model 'b'" in last["message"]
    assert "fit the head again" in last["hint"]


def test_a_head_or_field_without_a_record_is_let_through(two: dict, tmp_path: Path) -> None:
    """Files written before identities were recorded map as they did."""
    from engine.api import commands
    from engine.heads.io import load_head, save_head

    r = two["root"]
    head = load_head(r / "head_a")
    del head.meta["features"]
    save_head(head, tmp_path / "old_head")

    res = commands.map_zero_shot(tmp_path / "old_head", r / "b_field.tif", tmp_path / "m")
    assert Path(res["geotiff"]).is_file()


def test_a_photo_head_is_not_applied_as_it_is_to_the_overhead_field(two: dict,
                                                                     tmp_path: Path) -> None:
    """`map predict` applies a head with no re-centring: only to the encoder it was fitted
    on. A photo head there drew a flat, meaningless map (r 0.02 with the truth); it belongs
    in `map zero_shot`. A head fitted on the field maps it."""
    from engine.api import commands

    r = two["root"]
    with pytest.raises(EngineError, match="fitted on image embeddings, and .*a_field.tif "
                       "holds overhead embeddings") as err:
        commands.map_predict(r / "head_a", r / "a_field.tif", tmp_path / "pr")
    assert "map zero_shot" in err.value.hint
    commands.fit(tmp_path / "field_head", "income", field=r / "a_field.tif",
                 polygons=two["city"] / "tracts.gpkg", block_size=79.0, folds=3)
    res = commands.map_predict(tmp_path / "field_head", r / "a_field.tif", tmp_path / "ok")
    assert Path(res["geotiff"]).is_file()
