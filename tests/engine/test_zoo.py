"""The model zoo: EfficientNet-Lite0/1/2 converted once to safetensors, loaded strictly, wrong
checksums refused, usable by name as a frozen embedder and as a recipe's backbone with the
weights' own input convention kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from engine.errors import EngineError
from engine.nn.pretrained import efficientnet_lite
from engine.nn.pretrained.zoo import ZOO, get_weights, zoo_names

missing = [name for name, spec in ZOO.items() if not spec.available()]
needs_zoo = pytest.mark.skipif(bool(missing), reason=f"zoo packages not installed: {missing}")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache holding every converted zoo file (converted once for this module)."""
    if missing:
        pytest.skip(f"zoo packages not installed: {missing}")
    out = tmp_path_factory.mktemp("zoo")
    for spec in ZOO.values():
        spec.weights_path(out)
    return out


def test_zoo_names_and_unknown_name():
    assert zoo_names() == ["zoo:efficientnet_lite0", "zoo:efficientnet_lite1",
                           "zoo:efficientnet_lite2"]
    assert get_weights("zoo:efficientnet_lite1") is get_weights("efficientnet_lite1")
    with pytest.raises(EngineError) as err:
        get_weights("zoo:resnet50")
    assert "zoo:efficientnet_lite2" in err.value.hint
    assert [s.input_size for s in ZOO.values()] == [224, 240, 260]


def test_defaults_report_lists_the_zoo_from_its_registry():
    """`python -m engine defaults` reports the zoo (what the plugin's contract test reads)."""
    from engine.cli.defaults import describe

    report = describe()["zoo"]
    assert list(report) == zoo_names()
    assert report["zoo:efficientnet_lite2"] == {"input_size": 260, "feature_dim": 1280}


@needs_zoo
@pytest.mark.parametrize("name", list(ZOO))
def test_each_entry_loads_strictly_with_its_checksums(name, cache_dir):
    from safetensors import safe_open

    spec = ZOO[name]
    path = cache_dir / spec.cache_name
    state = spec.load_state(cache_dir)
    expected = spec.create_model().state_dict()
    assert set(state) == set(expected)
    assert all(state[k].shape == expected[k].shape for k in expected)
    result = spec.create_model().load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["source_sha256"] == spec.source_sha256
    assert meta["tensors_sha256"] == spec.tensors_sha256
    assert meta["input_size"] == str(spec.input_size)


@needs_zoo
def test_wrong_source_checksum_is_refused(tmp_path):
    spec = dataclasses.replace(ZOO["efficientnet_lite0"], source_sha256="0" * 64)
    with pytest.raises(EngineError, match="sha256 differs"):
        spec.weights_path(tmp_path)
    assert not (tmp_path / spec.cache_name).exists()


@needs_zoo
def test_tampered_converted_weights_are_refused(cache_dir, tmp_path):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    spec = ZOO["efficientnet_lite0"]
    source = cache_dir / spec.cache_name
    with safe_open(str(source), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(source))
    tensors["conv_stem.weight"] = tensors["conv_stem.weight"] * 1.01  # same header, other bytes
    save_file(tensors, str(tmp_path / spec.cache_name), metadata=meta)
    with pytest.raises(EngineError, match="refused"):
        spec.load_state(tmp_path)
    wrong = dataclasses.replace(spec, tensors_sha256="f" * 64)  # a converter that disagrees
    with pytest.raises(EngineError, match="refused"):
        wrong.convert(spec.package_file(), tmp_path / "other.safetensors")
    assert not (tmp_path / "other.safetensors").exists()


@needs_zoo
def test_zoo_backbone_keeps_the_weights_input_convention(cache_dir, monkeypatch):
    """A recipe's zoo backbone takes ImageNet-normalised input, like every backbone, and feeds
    the network the (x - 127) / 128 numbers its weights were trained on."""
    from engine.models.inputs import normalize_uint8
    from engine.nn.model import GeoModel

    monkeypatch.setattr(efficientnet_lite, "CACHE_DIR", cache_dir)
    spec = ZOO["efficientnet_lite0"]
    model = GeoModel.from_config({"embedding_dim": 32, "image": {
        "backbone": "zoo:efficientnet_lite0", "projection": "linear"}}).eval()
    pixels = torch.randint(0, 256, (2, 3, 48, 48), dtype=torch.uint8)
    reference = spec.load_pretrained(num_classes=0, cache_dir=cache_dir)
    tf_input = (pixels.float() - 127.0) / 128.0
    with torch.no_grad():
        ours = model.features_image(normalize_uint8(pixels))
        theirs = reference(tf_input)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert model.embed_image(normalize_uint8(pixels)).shape == (2, 32)
    assert model.config["image"]["backbone_kw"] == {"weights": None}  # state_dict replaces


@needs_zoo
def test_zoo_name_is_a_frozen_embedder_and_adapts_band_count(cache_dir, monkeypatch):
    from engine.models.folder import ModelFolder, load_model
    from engine.nn.model import GeoModel

    monkeypatch.setattr(efficientnet_lite, "CACHE_DIR", cache_dir)
    model = load_model("zoo:efficientnet_lite1")
    assert model.embedding_dim == 1280 and model.overhead_encoder is not None
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        emb = model.embed_image(x)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    folder = ModelFolder.open(Path("zoo:efficientnet_lite1"))  # as --model passes it
    assert folder.input_sizes()["image_size"] == 240 and folder.name == "zoo:efficientnet_lite1"
    with pytest.raises(EngineError, match="unknown zoo model"):
        load_model("zoo:efficientnet_lite9")
    four = GeoModel.from_config({"embedding_dim": 16, "image": {
        "backbone": "zoo:efficientnet_lite0", "backbone_kw": {"in_chans": 4}}}).eval()
    with torch.no_grad():
        assert four.image_encoder.backbone(torch.randn(2, 4, 32, 32)).shape == (2, 1280)


@needs_zoo
def test_zoo_name_without_a_size_embeds_at_its_native_size_and_says_so(
        cache_dir, monkeypatch, caplog, small_city, tmp_path):
    """`--model zoo:<name>` with no --image-size / --chip embeds at the network's native
    (ImageNet training) size and logs it; a size the user gives is used and not noted."""
    import logging

    import geopandas as gpd
    from rasterio.transform import from_origin
    from test_embed_support import write_rgb_tif

    from engine.api.commands import embed_points, embed_raster

    monkeypatch.setattr(efficientnet_lite, "CACHE_DIR", cache_dir)
    caplog.set_level(logging.INFO, logger="engine.api.commands")
    photos = gpd.read_file(small_city / "streetview.gpkg", layer="streetview").head(2)
    photos["image"] = [str(small_city / p) for p in photos["image"]]
    photos.to_file(tmp_path / "sv.gpkg", layer="streetview", driver="GPKG")
    kw = {"device": "cpu", "runtime": "torch"}
    result = embed_points("zoo:efficientnet_lite0", tmp_path / "sv.gpkg", tmp_path / "e.gpkg",
                          workers=0, **kw)
    assert (result["image_size"], result["dimension"], result["embedded"]) == (224, 1280, 2)
    assert ("zoo:efficientnet_lite0 embeds photos at 224 px, its native (ImageNet training) "
            "input size; --image-size changes it") in caplog.text
    caplog.clear()
    result = embed_points("zoo:efficientnet_lite0", tmp_path / "sv.gpkg", tmp_path / "e.gpkg",
                          workers=0, image_size=32, overwrite=True, **kw)
    assert result["image_size"] == 32 and "native" not in caplog.text

    raster = write_rgb_tif(tmp_path / "r.tif", 240, 240, "EPSG:32617",
                           from_origin(328000.0, 4421400.0, 1.0, 1.0))
    field = embed_raster("zoo:efficientnet_lite1", raster, tmp_path / "f.tif", stride=120,
                         preview=False, **kw)
    assert field["chip_px"] == 240
    assert ("zoo:efficientnet_lite1 embeds chips of the raster's own pixels at 240 px, its "
            "native (ImageNet training) input size; --chip or --chip-m changes it") in caplog.text


def test_an_installed_engine_caches_weights_in_the_user_cache_not_the_cwd(
        tmp_path, monkeypatch) -> None:
    """A wheel (the QGIS plugin's engine) has no checkout: the zoo cache went to
    `models/pretrained` under the current directory, wherever QGIS was started."""
    from engine import paths

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert paths.cache_dir() == paths.project_root() / "models" / "pretrained"  # a checkout
    monkeypatch.setattr(paths, "_checkout", lambda: None)  # as from an installed wheel
    assert paths.project_root() == tmp_path
    assert paths.cache_dir() == tmp_path / "cache" / "geocontrast"
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.cache_dir() == tmp_path / "home" / "models" / "pretrained"
