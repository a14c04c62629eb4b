"""embed_raster: grid, CRS, nodata, values vs direct model calls, bbox/mask, EPSG:4326, errors."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import torch
from rasterio.transform import from_origin
from test_embed_support import tiny_model, write_rgb_tif

from engine.data.rasters import open_raster
from engine.embed import grid as grid_mod
from engine.embed.raster import embed_raster
from engine.errors import EngineError
from engine.export.fieldio import open_field, read_field_window
from engine.models.inputs import rgb_uint8, to_model_input

torch.set_num_threads(1)
UTM = "EPSG:32617"
ORIGIN = from_origin(500000.0, 4000000.0, 0.5, 0.5)


def direct(model, raster, x: float, y: float, chip: int, encoder: str = "overhead"):
    """The embedding of the chip centred on (x, y), computed straight from the model."""
    win = raster.read_centered(x, y, chip)
    batch = torch.from_numpy(rgb_uint8(win.data, win.valid)[None])
    fn = model.embed_overhead if encoder == "overhead" else model.embed_image
    with torch.inference_mode():
        return fn(to_model_input(batch, torch.device("cpu")))[0].numpy()


def read_all(path):
    with open_field(path) as ds:
        data, valid = read_field_window(ds, rasterio.windows.Window(0, 0, ds.width, ds.height))
        return data, valid, ds.crs, ds.transform, ds.profile


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def test_field_grid_crs_nodata_and_values(tmp_path, model) -> None:
    src = write_rgb_tif(tmp_path / "in.tif", 130, 100, UTM, ORIGIN, nodata_box=(0, 20, 0, 30))
    out = tmp_path / "field.tif"
    res = embed_raster(model, src, out, chip_px=16, stride_px=8, batch_size=32, device="cpu")
    data, valid, crs, transform, profile = read_all(out)
    assert crs.to_epsg() == 32617
    assert data.shape == (16, math.ceil(100 / 8), math.ceil(130 / 8))
    assert tuple(transform)[:6] == (4.0, 0.0, 500000.0, 0.0, -4.0, 4000000.0)
    # tiles fit the 17 x 13 field (rounded up to 16 px), not 256 px of padding per band
    assert profile["tiled"] and profile["blockxsize"] == profile["blockysize"] == 32
    # nodata exactly where the centre pixel was nodata: rows 4, 12 x cols 4, 12, 20, 28
    expect_invalid = np.zeros(valid.shape, bool)
    expect_invalid[:2, :4] = True
    # and where less than 3/4 of the 16 px chip lies inside the 130 x 100 px raster
    # (engine.embed.grid.MIN_CHIP_INSIDE): the last row (chip rows 92..108: 1/2 inside), the
    # last column (cols 124..140: 6/16) and the corner cell (0, 15) (rows -4..12: 3/4,
    # cols 116..132: 14/16, together 0.66)
    expect_invalid[12, :] = True
    expect_invalid[:, 16] = True
    expect_invalid[0, 15] = True
    assert np.array_equal(~valid, expect_invalid)
    assert res["chips"] == valid.sum() and res["nodata_pixels"] == int(expect_invalid.sum())
    with open_raster(src) as raster:
        for i, j in [(2, 0), (5, 7), (11, 15), (1, 15), (11, 0)]:
            x, y = transform @ (j + 0.5, i + 0.5)
            ref = direct(model, raster, x, y, 16)
            np.testing.assert_allclose(data[:, i, j], ref, atol=2e-3, rtol=2e-3)
    with rasterio.open(res["preview"]) as pv:
        assert pv.count == 3 and pv.dtypes[0] == "uint8" and pv.crs == crs
        assert pv.transform == transform
        assert pv.tags()["GEOCONTRAST_KIND"] == "embedding_preview"  # QGIS tells them apart
    with rasterio.open(out) as ds:
        tags = ds.tags()
    assert tags["GEOCONTRAST_KIND"] == "embedding_field" and tags["GEOCONTRAST_DIMENSION"] == "16"
    meta = json.loads((tmp_path / "field.json").read_text())
    assert meta["stride_px"] == 8 and meta["encoder"] == "overhead" and meta["dimension"] == 16


def test_blocks_stream_to_the_same_field(tmp_path, model, monkeypatch) -> None:
    src = write_rgb_tif(tmp_path / "in.tif", 90, 70, UTM, ORIGIN, seed=3)
    embed_raster(model, src, tmp_path / "one.tif", chip_px=12, stride_px=5, device="cpu",
                 preview=False, dtype="float32")
    monkeypatch.setattr(grid_mod, "WINDOW_SIDE", 30)  # many small blocks, odd stride
    embed_raster(model, src, tmp_path / "many.tif", chip_px=12, stride_px=5, batch_size=7,
                 device="cpu", preview=False, dtype="float32")
    a, va, *_ = read_all(tmp_path / "one.tif")
    b, vb, *_ = read_all(tmp_path / "many.tif")
    assert np.array_equal(va, vb) and va[1:-1, 1:-1].all()  # edges: engine.embed.grid rule
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_sparse_grids_read_only_their_chips_to_the_same_field(tmp_path, model,
                                                           monkeypatch) -> None:
    """Stride >= 2 chips: only the chips are read (engine.embed.reader.read_block), with
    the same field as whole windows, nodata, raster edges and odd sizes included."""
    from engine.data.rasters import OverheadRaster
    from engine.embed import reader as reader_mod

    src = write_rgb_tif(tmp_path / "in.tif", 157, 131, UTM, ORIGIN, seed=7,
                        nodata_box=(40, 75, 20, 66))
    sizes: list[tuple[int, int]] = []
    read = OverheadRaster.read_window

    def spy(self, col, row, width, height, raw=False):
        sizes.append((int(width), int(height)))
        return read(self, col, row, width, height, raw=raw)

    monkeypatch.setattr(OverheadRaster, "read_window", spy)
    monkeypatch.setattr(grid_mod, "WINDOW_SIDE", 60)  # many blocks, some at the edges
    fields = {}
    for share in (0.0, reader_mod.SPARSE_SHARE):
        monkeypatch.setattr(reader_mod, "SPARSE_SHARE", share)
        sizes.clear()
        out = tmp_path / f"f{share}.tif"
        embed_raster(model, src, out, chip_px=9, stride_px=23, batch_size=5, device="cpu",
                     preview=False, dtype="float32")
        fields[share] = (read_all(out)[:2], sorted(set(sizes)))
    (a, va), whole = fields[0.0]
    (b, vb), chips = fields[reader_mod.SPARSE_SHARE]
    assert chips == [(9, 9)] and min(whole) > (9, 9)  # chips vs whole windows
    assert np.array_equal(va, vb) and 0 < (~va).sum() < va.size
    np.testing.assert_array_equal(a, b)


def test_stride_wider_than_chip_and_image_encoder(tmp_path) -> None:
    model = tiny_model(overhead=False)
    src = write_rgb_tif(tmp_path / "in.tif", 50, 45, UTM, ORIGIN, seed=5)
    out = tmp_path / "f.tif"
    res = embed_raster(model, src, out, chip_px=8, stride_px=20, device="cpu", preview=False)
    assert res["encoder"] == "image"  # auto: the model has no overhead encoder
    data, valid, _, transform, _ = read_all(out)
    # the last row's chips (rows 46..54 of 45) lie wholly outside the raster and the last
    # column's (cols 46..54 of 50) half outside: nodata (engine.embed.grid.MIN_CHIP_INSIDE)
    assert data.shape[1:] == (3, 3) and valid[:2, :2].all() and valid.sum() == 4
    with open_raster(src) as raster:
        x, y = transform @ (1.5, 1.5)
        np.testing.assert_allclose(data[:, 1, 1], direct(model, raster, x, y, 8, "image"),
                                   atol=2e-3)
    with pytest.raises(EngineError, match="no overhead encoder"):
        embed_raster(model, src, out, encoder="overhead", device="cpu")


def test_bbox_and_mask_limit_the_area(tmp_path, model) -> None:
    src = write_rgb_tif(tmp_path / "in.tif", 120, 120, UTM, ORIGIN, seed=1)
    # bbox in metres: x 500010..500030, y 3999970..3999990 -> source cols 20..60, rows 20..60
    res = embed_raster(model, src, tmp_path / "b.tif", chip_px=16, stride_px=10, device="cpu",
                       bbox=(500010, 3999970, 500030, 3999990), preview=False)
    data, valid, _, transform, _ = read_all(tmp_path / "b.tif")
    assert data.shape[1:] == (4, 4) and valid.all()
    assert tuple(transform)[:6] == (5.0, 0.0, 500010.0, 0.0, -5.0, 3999990.0)
    assert res["chips"] == 16
    full = tmp_path / "full.tif"
    embed_raster(model, src, full, chip_px=16, stride_px=10, device="cpu", preview=False)
    whole, *_ = read_all(full)
    np.testing.assert_allclose(data, whole[:, 2:6, 2:6], atol=1e-6)
    # mask: a triangle; only pixel centres inside it get an embedding
    tri = shapely.Polygon([(500000, 4000000), (500058, 4000000), (500000, 3999942)])
    gpd.GeoDataFrame({"id": [1]}, geometry=[tri], crs=UTM).to_file(
        tmp_path / "mask.gpkg", layer="area", driver="GPKG")
    embed_raster(model, src, tmp_path / "m.tif", chip_px=16, stride_px=10, device="cpu",
                 mask=tmp_path / "mask.gpkg", preview=False)
    mdata, mvalid, _, mtransform, _ = read_all(tmp_path / "m.tif")
    assert mvalid.shape == (12, 12)  # the triangle's extent, 58 m -> 12 pixels of 5 m
    centres = [shapely.Point(mtransform @ (j + 0.5, i + 0.5)) for i in range(12)
               for j in range(12)]
    inside = np.array([tri.contains(p) for p in centres]).reshape(12, 12)
    inside[0, 0] = False  # the corner's chip (rows/cols -3..13 of 120) is 1/3 outside
    assert np.array_equal(mvalid, inside) and inside.sum() > 10
    np.testing.assert_allclose(mdata[:, mvalid], whole[:, :12, :12][:, mvalid], atol=1e-6)
    with pytest.raises(EngineError, match="does not overlap"):
        embed_raster(model, src, tmp_path / "x.tif", bbox=(0, 0, 10, 10), device="cpu")


def test_geographic_raster_is_embedded_in_utm(tmp_path, model) -> None:
    # ~100 x 80 m around (-81.0, 35.0) at ~1 m per pixel (degrees)
    transform = from_origin(-81.0, 35.0, 1.1e-5, 0.9e-5)
    src = write_rgb_tif(tmp_path / "geo.tif", 100, 80, "EPSG:4326", transform, seed=2)
    out = tmp_path / "geo_field.tif"
    res = embed_raster(model, src, out, chip_px=16, stride_px=8, device="cpu", dtype="int8",
                       bbox=(-81.0, 34.99962, -80.99945, 35.0))
    data, valid, crs, ftransform, _ = read_all(out)
    assert res["reprojected"] and crs.to_epsg() == 32617 and res["crs"] == "EPSG:32617"
    assert crs.linear_units in ("metre", "meter")
    px = abs(ftransform.a)
    assert 6.0 < px < 10.0  # 8 warped pixels of about 1 m
    assert valid.mean() > 0.5 and np.isfinite(data[:, valid]).all()
    norms = np.linalg.norm(data[:, valid], axis=0)  # int8 codes decode to unit vectors
    np.testing.assert_allclose(norms, 1.0, atol=0.05)
    with open_raster(src, target_crs=crs) as raster:
        i, j = np.argwhere(valid)[len(np.argwhere(valid)) // 2]
        x, y = ftransform @ (j + 0.5, i + 0.5)
        ref = direct(model, raster, x, y, 16)
        np.testing.assert_allclose(data[:, i, j], ref, atol=0.02)


def test_bad_inputs_name_the_problem(tmp_path, model) -> None:
    src = write_rgb_tif(tmp_path / "in.tif", 40, 40, UTM, ORIGIN)
    with pytest.raises(EngineError, match="dtype"):
        embed_raster(model, src, tmp_path / "f.tif", dtype="uint16")
    with pytest.raises(EngineError, match="does not exist"):
        embed_raster(model, tmp_path / "missing.tif", tmp_path / "f.tif", device="cpu")
    with pytest.raises(EngineError) as err:  # a chip given in metres is reported in metres
        embed_raster(model, src, tmp_path / "f.tif", chip_m=30, device="cpu")
    assert err.value.message == (f"the raster {src} is 40 x 40 px (20 m x 20 m), smaller than "
                                 "one 60 px chip (30 m)")
    assert "--chip-m 20 or --chip 40" in err.value.hint
    with pytest.raises(EngineError, match="mask layer"):
        embed_raster(model, src, tmp_path / "f.tif", mask=tmp_path / "nope.gpkg", device="cpu")
    pts = gpd.GeoDataFrame({"id": [1]}, geometry=[shapely.Point(500001, 3999999)], crs=UTM)
    pts.to_file(tmp_path / "pts.gpkg", driver="GPKG")
    with pytest.raises(EngineError, match="not polygons"):
        embed_raster(model, src, tmp_path / "f.tif", mask=tmp_path / "pts.gpkg", device="cpu")
    assert not (tmp_path / "f.tif").exists()


def test_cli_defaults_come_from_the_model_folder(tmp_path, model) -> None:
    from engine.cli.main import main
    from engine.models.weights import save_model

    save_model(model, tmp_path / "models/tiny", extra_config={"data": {"chip_size": 12}})
    src = write_rgb_tif(tmp_path / "in.tif", 48, 36, UTM, ORIGIN, seed=4)
    out = tmp_path / "cli.tif"
    code = main(["embed-raster", "--model", str(tmp_path / "models/tiny"), "--raster", str(src),
                 "--out", str(out), "--events", "jsonl", "--device", "cpu", "--no-preview"])
    assert code == 0
    meta = json.loads((tmp_path / "cli.json").read_text())
    assert (meta["chip_px"], meta["stride_px"], meta["model"]) == (12, 3, "tiny")
    data, valid, _, transform, _ = read_all(out)

    def share(n: int, size: int) -> np.ndarray:  # of each cell's 12 px chip inside the raster
        start = np.arange(n) * 3 - 4  # stride 3, chip offset (3 - 12 + 1) // 2
        return np.clip(np.minimum(start + 12, size) - np.maximum(start, 0), 0, 12) / 12

    # a cell is embedded when at least 3/4 of its chip lies inside (MIN_CHIP_INSIDE): the
    # outer ring (8/12 or 7/12 inside) and the corner (10, 14) (10/12 x 10/12) are nodata
    expect = np.outer(share(12, 36), share(16, 48)) >= 0.75
    assert data.shape == (16, 12, 16) and np.array_equal(valid, expect) and not expect[10, 14]
    assert expect[1:-1, 1:-1].sum() == 10 * 14 - 1 and "preview" not in meta
    with open_raster(src) as raster:
        x, y = transform @ (3.5, 2.5)
        np.testing.assert_allclose(data[:, 2, 3], direct(model, raster, x, y, 12), atol=2e-3)


def test_a_failure_mid_way_leaves_no_output_and_no_thread(tmp_path, monkeypatch) -> None:
    import threading

    model = tiny_model()
    calls = {"n": 0}
    real = model.embed_overhead

    def flaky(x):
        calls["n"] += 1
        if calls["n"] == 3:
            raise EngineError("boom in the model", "")
        return real(x)

    monkeypatch.setattr(model, "embed_overhead", flaky)
    monkeypatch.setattr(grid_mod, "WINDOW_SIDE", 24)
    src = write_rgb_tif(tmp_path / "in.tif", 80, 80, UTM, ORIGIN)
    with pytest.raises(EngineError, match="boom"):
        embed_raster(model, src, tmp_path / "f.tif", chip_px=8, stride_px=4, batch_size=8,
                     device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
    assert not any(t.name == "embed-raster-reader" for t in threading.enumerate())


def test_a_failed_write_on_the_write_thread_stops_the_job_cleanly(tmp_path,
                                                                  monkeypatch) -> None:
    """Blocks are written on a thread (engine.embed.write_thread): a write that fails there
    (values past float16's range in a later block) still fails the job with its own error,
    leaves no output and no thread behind."""
    import threading

    model = tiny_model()
    calls = {"n": 0}
    real = model.embed_overhead

    def huge_later(x):
        calls["n"] += 1
        out = real(x)
        return out * 1e6 if calls["n"] >= 4 else out

    monkeypatch.setattr(model, "embed_overhead", huge_later)
    monkeypatch.setattr(grid_mod, "WINDOW_SIDE", 24)  # many blocks: the failure is mid-way
    src = write_rgb_tif(tmp_path / "in.tif", 80, 80, UTM, ORIGIN)
    with pytest.raises(EngineError, match="65504"):
        embed_raster(model, src, tmp_path / "f.tif", chip_px=8, stride_px=4, batch_size=8,
                     device="cpu", dtype="float16")
    assert calls["n"] >= 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
    names = {t.name for t in threading.enumerate()}
    assert not names & {"embed-raster-reader", "embed-raster-writer"}


def test_the_gdal_block_cache_is_megabytes_not_bytes() -> None:
    """rasterio takes an int GDAL_CACHEMAX as bytes: the bound meant 128 MB and was 128 B,
    so every block was read again and a tiled scene's statistics took 60 x as long."""
    from rasterio._env import get_gdal_config

    from engine.embed.raster import GDAL_CACHE_MB, _bounded_gdal_cache

    seen = _bounded_gdal_cache(lambda: get_gdal_config("GDAL_CACHEMAX"))()
    assert int(seen) == GDAL_CACHE_MB * 1024 * 1024
