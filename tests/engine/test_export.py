"""Exports: styled GeoPackages (layer_styles + valid QML), embedding BLOBs, COG GeoTIFFs
(CRS, transform, dtype, nodata, overviews, int8 scale/offset), PCA preview, quick-looks."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from engine.errors import EngineError
from engine.export.embeddings_gpkg import read_embeddings_gpkg, write_embeddings_gpkg
from engine.export.geotiff import EmbeddingFieldWriter, write_geotiff
from engine.export.gpkg import write_gpkg
from engine.export.preview import pca_preview
from engine.export.quicklook import nice_length, quicklook_raster, quicklook_vector
from engine.export.styles import categorized_style, class_breaks, graduated_style

CRS = "EPSG:32617"
TRANSFORM = from_origin(600_000.0, 4_100_000.0, 0.5, 0.5)


def _points(n: int = 12) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"pred": np.linspace(0.0, 1.0, n), "unc": np.full(n, 0.1),
         "cls": ["park", "street", "plaza"] * (n // 3)},
        geometry=[Point(600_000 + 10 * i, 4_100_000 - 5 * i) for i in range(n)], crs=CRS)


def test_write_gpkg_stores_a_default_style(tmp_path) -> None:
    path = tmp_path / "out.gpkg"
    pts = _points()
    style = graduated_style(pts["pred"], "pred", n_classes=4, ramp="RdYlBu")
    write_gpkg(pts, path, "predictions", style=style, metadata={"model": "m", "dim": 8})
    tracts = gpd.GeoDataFrame({"cls": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
                              crs=CRS)
    write_gpkg(tracts, path, "tracts", style=categorized_style(tracts["cls"], "cls"))
    layers = dict(pyogrio.list_layers(path))
    assert layers["predictions"] == "Point" and layers["tracts"] == "Polygon"
    back = pyogrio.read_dataframe(path, layer="predictions")
    assert len(back) == 12 and back.crs == CRS
    np.testing.assert_allclose(back["pred"], pts["pred"])
    info = pyogrio.read_info(path, layer="predictions")
    assert info["layer_metadata"]["model"] == "m" and info["layer_metadata"]["dim"] == "8"
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200  # GeoPackage 1.2
        rows = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault, styleQML "
                           "FROM layer_styles ORDER BY f_table_name").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [("predictions", "geom", 1), ("tracts", "geom", 1)]
    root = ET.fromstring(rows[0][3])
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol" and renderer.get("attr") == "pred"
    ranges = renderer.findall("ranges/range")
    assert len(ranges) == 4 and float(ranges[0].get("lower")) == 0.0
    assert float(ranges[-1].get("upper")) == 1.0
    assert root.find("layerGeometryType").text == "0"
    assert len(renderer.findall("symbols/symbol[@type='marker']")) == 4
    cat = ET.fromstring(rows[1][3]).find("renderer-v2")
    assert cat.get("type") == "categorizedSymbol"
    assert [c.get("value") for c in cat.findall("categories/category")] == ["a", "b"]
    assert cat.find("symbols/symbol").get("type") == "fill"
    # rewriting a layer replaces it and its style, keeping the other layer
    write_gpkg(pts.iloc[:3], path, "predictions", style=style)
    assert pyogrio.read_info(path, layer="predictions")["features"] == 3
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM layer_styles").fetchone()[0] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]  # no temp files left


def test_class_breaks_quantile_and_equal() -> None:
    v = np.array([0.0, 1.0, 2.0, 3.0, 10.0, np.nan])
    assert class_breaks(v, 2, "equal") == [0.0, 5.0, 10.0]
    assert class_breaks(v, 2, "quantile") == [0.0, 2.0, 10.0]
    with pytest.raises(EngineError, match="unknown colour ramp"):
        graduated_style(v, "x", ramp="nope")


def test_embedding_blobs_round_trip(tmp_path) -> None:
    path = tmp_path / "emb.gpkg"
    emb = np.random.default_rng(0).normal(size=(12, 16)).astype(np.float32)
    write_embeddings_gpkg(_points(), emb, path, layer="photos", model="tiny-v1",
                          extra={"objective": "temporal"})
    gdf, back, meta = read_embeddings_gpkg(path, layer="photos")
    assert np.array_equal(back, emb) and list(gdf["cls"]) == list(_points()["cls"])
    assert meta["model"] == "tiny-v1" and meta["dimension"] == 16
    assert meta["dtype"] == "float32" and meta["byte_order"] == "little"
    assert meta["extra"] == {"objective": "temporal"}
    with sqlite3.connect(path) as con:
        blob = con.execute("SELECT embedding FROM photos WHERE fid = 1").fetchone()[0]
        kinds = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents"))
    assert blob == emb[0].astype("<f4").tobytes()
    assert kinds["gc_embedding_meta"] == "attributes"
    assert pyogrio.read_info(path, layer="photos")["features"] == 12


def test_small_geotiff_tiles_fit_the_raster(tmp_path) -> None:
    a = np.arange(5 * 63 * 40, dtype=np.float32).reshape(5, 63, 40) / 7
    path = write_geotiff(a, CRS, TRANSFORM, tmp_path / "small.tif", dtype="float16",
                         band_descriptions=[f"emb_{k:03d}" for k in range(5)])
    with rasterio.open(path) as ds:
        assert ds.block_shapes[0] == (64, 64)  # 63 rows rounded up to 16 px, not 256
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.descriptions[4] == "emb_004"
        np.testing.assert_array_equal(ds.read(), a.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
def test_geotiff_cog_round_trip(tmp_path, dtype) -> None:
    rng = np.random.default_rng(1)
    a = (rng.normal(size=(3, 600, 520)) * [[[1.0]], [[5.0]], [[0.1]]]).astype(np.float32)
    a[:, :4, :4] = np.nan
    names = ["emb_000", "emb_001", "emb_002"]
    path = write_geotiff(a, CRS, TRANSFORM, tmp_path / f"f_{dtype}.tif", dtype=dtype,
                         band_descriptions=names)
    with rasterio.open(path) as ds:
        assert ds.crs == CRS and ds.transform == TRANSFORM
        assert ds.dtypes[0] == ("int8" if dtype == "int8" else "float32")
        assert ds.block_shapes[0] == (256, 256)
        assert ds.overviews(1) == [2, 4]
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert list(ds.descriptions) == names
        if dtype != "int8":
            assert np.isnan(ds.nodata)
        raw = ds.read()
        if dtype == "int8":
            assert ds.nodata == -128 and (raw[:, :4, :4] == -128).all()
            scales, offsets = np.array(ds.scales), np.array(ds.offsets)
            lo, hi = np.nanmin(a, axis=(1, 2)), np.nanmax(a, axis=(1, 2))
            np.testing.assert_allclose(scales, (hi - lo) / 254, rtol=1e-6)
            back = raw * scales[:, None, None] + offsets[:, None, None]
            tol = scales[:, None, None] / 2 * 1.001
        else:
            assert np.isnan(ds.nodata) and np.isnan(raw[:, :4, :4]).all()
            back = raw
            tol = 0 if dtype == "float32" else np.abs(a) * 2.0 ** -11 + 1e-7
        if dtype == "float16":
            assert ds.tags(1, ns="IMAGE_STRUCTURE")["NBITS"] == "16"
    ok = np.isfinite(a)
    assert (np.abs(back - a) <= tol)[ok].all()


@pytest.mark.parametrize("in_memory", [True, False])
def test_many_band_field_gets_band_by_band_overviews(tmp_path, monkeypatch, in_memory) -> None:
    """Overviews are built on the source band by band and copied into the COG: the average
    of each 2 x 2 cell ignoring nodata, whether the field was gathered in memory or went
    through the scratch file in whole tiles."""
    import engine.export.geotiff as geotiff

    if not in_memory:
        monkeypatch.setattr(geotiff, "MEMORY_BYTES", 0)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(40, 96, 288)).astype(np.float16).astype(np.float32)
    a[:, :2, :3] = np.nan
    path = tmp_path / "field.tif"
    with EmbeddingFieldWriter(path, crs=CRS, transform=TRANSFORM, width=288, height=96,
                              count=40, dtype="float16", blocksize=64,
                              scratch_tile=32) as wr:
        for r in range(0, 96, 32):  # blocks of whole 32 px scratch tiles
            for c in range(0, 288, 32):
                wr.write(a[:, r:r + 32, c:c + 32], c, r)
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.overviews(1) == [2] and ds.block_shapes[0] == (64, 64)
        np.testing.assert_array_equal(ds.read(), a)
        half = ds.read(out_shape=(40, 48, 144))
    cells = a.reshape(40, 48, 2, 144, 2)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        want = np.nanmean(cells, axis=(2, 4))
    np.testing.assert_allclose(half, want.astype(np.float16).astype(np.float32), atol=2e-3,
                               equal_nan=True)


def test_round_to_half_equals_numpys_float16() -> None:
    """The bit-level rounding gives numpy's float16 values, ties, subnormals, zeros, NaN and
    infinities included; past float16's range it gives a value past 65504."""
    from engine.export.encoding import round_to_half

    rng = np.random.default_rng(7)
    x = (rng.normal(size=200_000) * 10.0 ** rng.uniform(-9, 4.8, 200_000)).astype(np.float32)
    edge = np.array([0.0, -0.0, 1e-8, 6e-5, 6.2e-5, 65504, 65519, -65519, np.inf, -np.inf,
                     np.nan, 1.0009765625, 1.00048828125, 1.000732421875], np.float32)
    x = np.concatenate([x, edge])
    with np.errstate(over="ignore"):
        want = x.astype(np.float16).astype(np.float32)
    got = round_to_half(x)
    fits = np.abs(x) < 65520
    np.testing.assert_array_equal(got[fits], want[fits])
    assert (np.abs(round_to_half(np.array([65520.0, 1e6], np.float32))) > 65504).all()


def test_float16_field_refuses_values_it_cannot_hold(tmp_path) -> None:
    """A finite value beyond float16's range is an error naming the file, never an inf;
    nodata (NaN) and values that round into range are written."""
    path = tmp_path / "f16.tif"
    with pytest.raises(EngineError, match="65504"):
        with EmbeddingFieldWriter(path, crs=CRS, transform=TRANSFORM, width=4, height=4,
                                  count=2, dtype="float16") as wr:
            wr.write(np.full((2, 4, 4), 7.0e4, np.float32), 0, 0)
    assert not path.exists()
    a = np.full((2, 4, 4), 0.1, np.float32)
    a[0, 0, 0], a[1, 1, 1] = np.nan, 65510.0
    with EmbeddingFieldWriter(path, crs=CRS, transform=TRANSFORM, width=4, height=4,
                              count=2, dtype="float16") as wr:
        wr.write(a, 0, 0)
    with rasterio.open(path) as ds:
        np.testing.assert_array_equal(ds.read(), a.astype(np.float16).astype(np.float32))


def test_streaming_writer_and_single_band_qml(tmp_path) -> None:
    path = tmp_path / "streamed.tif"
    with EmbeddingFieldWriter(path, crs=CRS, transform=TRANSFORM, width=300, height=200,
                              count=2, dtype="float32") as w:
        for r in range(0, 200, 100):
            for c in range(0, 300, 100):
                w.write(np.full((2, 100, 100), r + c / 100, dtype=np.float32), c, r)
        assert not path.exists()  # nothing under the final name before close
    with rasterio.open(path) as ds:
        assert ds.read(1)[150, 250] == pytest.approx(102.0)
    with pytest.raises(RuntimeError):
        with EmbeddingFieldWriter(tmp_path / "never.tif", crs=CRS, transform=TRANSFORM,
                                  width=10, height=10, count=1):
            raise RuntimeError("cancelled")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.tif"]
    m = write_geotiff(np.arange(100, dtype=np.float32).reshape(10, 10), CRS, TRANSFORM,
                      tmp_path / "map.tif", qml_ramp="magma")
    shader = ET.parse(m.with_suffix(".qml")).getroot().find(".//colorrampshader")
    assert float(shader.get("minimumValue")) == 0.0 and float(shader.get("maximumValue")) == 99
    with pytest.raises(EngineError, match="falls outside"):
        with EmbeddingFieldWriter(tmp_path / "x.tif", crs=CRS, transform=TRANSFORM,
                                  width=10, height=10, count=1) as w:
            w.write(np.zeros((1, 5, 5)), 8, 0)


def test_pca_preview_is_rgb(tmp_path) -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(3, 64, 64)).astype(np.float32)
    field = np.concatenate([base, base + 0.01 * rng.normal(size=base.shape)]).astype(np.float32)
    field[:, 0, 0] = np.nan
    src = write_geotiff(field, CRS, TRANSFORM, tmp_path / "field.tif", dtype="int8")
    out = pca_preview(src, tmp_path / "preview.tif", sample=2000, seed=0)
    with rasterio.open(out) as ds:
        assert ds.count == 3 and ds.dtypes == ("uint8",) * 3 and ds.nodata == 0
        assert [c.name for c in ds.colorinterp] == ["red", "green", "blue"]
        rgb = ds.read()
        assert ds.crs == CRS and ds.transform == TRANSFORM
    assert (rgb[:, 0, 0] == 0).all() and (rgb[:, 1:, 1:] > 0).all()
    assert rgb[0].std() > 20  # the first component spreads over the colour range
    again = pca_preview(src, tmp_path / "preview2.tif", sample=2000, seed=0)
    with rasterio.open(again) as ds:
        assert np.array_equal(ds.read(), rgb)


def test_pca_preview_from_the_writers_memory_equals_the_files(tmp_path) -> None:
    """embed-raster previews a field from the writer's memory before the COG is compressed:
    the same pixels as the preview of the finished file."""
    rng = np.random.default_rng(4)
    field = rng.normal(size=(12, 40, 56)).astype(np.float32)
    field[:, :3, :5] = np.nan
    path = tmp_path / "field.tif"
    with EmbeddingFieldWriter(path, crs=CRS, transform=TRANSFORM, width=56, height=40,
                              count=12, dtype="float16") as wr:
        wr.write(field, 0, 0)
        assert wr.holds_values
        early = pca_preview(path, tmp_path / "early.tif", sample=500, source=wr)
    late = pca_preview(path, tmp_path / "late.tif", sample=500)
    with rasterio.open(early) as a, rasterio.open(late) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.crs == b.crs and a.transform == b.transform


def test_quicklooks_are_png(tmp_path) -> None:
    assert nice_length(730.0) == 500.0 and nice_length(0.31) == 0.2
    tif = write_geotiff(np.random.default_rng(3).random((1, 40, 60)).astype(np.float32), CRS,
                        TRANSFORM, tmp_path / "m.tif")
    for png in (quicklook_raster(tif, tmp_path / "m.png", title="income"),
                quicklook_vector(_points(), "pred", tmp_path / "p.png")):
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 100
    with pytest.raises(EngineError, match="no column"):
        quicklook_vector(_points(), "missing", tmp_path / "x.png")
