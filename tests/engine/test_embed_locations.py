"""embed_locations: grid in a metric CRS with the expected shape, cell-centre lon/lat fed to the
encoder, points -> GeoPackage, and clear errors."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import torch
from test_embed_support import tiny_model

from engine.data.crs import transform_xy
from engine.embed.locations import embed_locations, location_embeddings
from engine.embed.points import read_point_embeddings
from engine.errors import EngineError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    return tiny_model(location=True)


def direct(model, lonlat: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.embed_location(torch.from_numpy(lonlat)).numpy()


def test_lonlat_grid_is_laid_out_in_utm_metres(tmp_path: Path, model) -> None:
    out = tmp_path / "loc.tif"
    bounds = (-81.0020, 34.9990, -81.0000, 35.0000)  # ~180 m x 110 m
    res = embed_locations(model, out, bounds=bounds, step_m=20.0, crs="EPSG:4326",
                          device="cpu", model_name="tiny")
    with rasterio.open(out) as ds:
        data = ds.read().astype(np.float64)
        crs, transform = ds.crs, ds.transform
    assert crs.to_epsg() == 32617 and res["crs"] == "EPSG:32617"
    assert (transform.a, transform.e) == (20.0, -20.0)
    utm = transform_xy(np.array([[-81.002, 34.999], [-81.0, 35.0]]), "EPSG:4326", crs)
    assert data.shape[1] >= math.floor((utm[1, 1] - utm[0, 1]) / 20)
    assert data.shape[2] >= math.floor((utm[1, 0] - utm[0, 0]) / 20)
    rows, cols = np.meshgrid(np.arange(data.shape[1]), np.arange(data.shape[2]), indexing="ij")
    x, y = transform @ (cols.ravel() + 0.5, rows.ravel() + 0.5)
    lonlat = transform_xy(np.column_stack([x, y]), crs, "EPSG:4326")
    ref = direct(model, lonlat)  # the encoder saw lon, lat of each cell centre
    got = data.reshape(16, -1).T
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert Path(res["preview"]).is_file()


def test_projected_grid_keeps_its_crs(tmp_path: Path, model, monkeypatch) -> None:
    import engine.embed.locations as loc

    monkeypatch.setattr(loc, "BAND_CELLS", 10)  # several bands of rows
    out = tmp_path / "loc.tif"
    embed_locations(model, out, bounds=(500000, 3999900, 500095, 4000000), step_m=10.0,
                    crs="EPSG:32617", device="cpu", dtype="float32", preview=False)
    with rasterio.open(out) as ds:
        assert ds.crs.to_epsg() == 32617 and (ds.width, ds.height) == (10, 10)
        assert tuple(ds.transform)[:6] == (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
        data = ds.read()
    x, y = ds.transform @ (np.array([0.5, 9.5]), np.array([0.5, 9.5]))
    ref = direct(model, transform_xy(np.column_stack([x, y]), "EPSG:32617", "EPSG:4326"))
    np.testing.assert_allclose(data[:, [0, 9], [0, 9]].T, ref, atol=1e-6)


def test_points_are_converted_to_lonlat(tmp_path: Path, model) -> None:
    pts = [shapely.Point(500000 + 37 * k, 4000000 - 11 * k) for k in range(7)]
    gpd.GeoDataFrame({"name": [f"p{k}" for k in range(7)], "value": np.arange(7.0)},
                     geometry=pts, crs="EPSG:32617").to_file(tmp_path / "pts.gpkg",
                                                             layer="pts", driver="GPKG")
    out = tmp_path / "loc.gpkg"
    res = embed_locations(model, out, points=tmp_path / "pts.gpkg", device="cpu")
    assert res["points"] == 7 and res["crs"] == "EPSG:32617"
    frame, emb = read_point_embeddings(out)
    assert list(frame["name"]) == [f"p{k}" for k in range(7)]
    xy = np.column_stack([frame.geometry.x, frame.geometry.y])
    ref = direct(model, transform_xy(xy, "EPSG:32617", "EPSG:4326"))
    np.testing.assert_allclose(emb, ref, atol=1e-6)
    np.testing.assert_allclose(location_embeddings(model, transform_xy(xy, "EPSG:32617",
                                                                       "EPSG:4326"),
                                                   batch_size=3, device="cpu"), ref, atol=1e-6)


def test_location_errors(tmp_path: Path, model) -> None:
    with pytest.raises(EngineError, match="no location encoder"):
        embed_locations(tiny_model(), tmp_path / "a.tif", bounds=(0, 0, 1, 1), step_m=100)
    with pytest.raises(EngineError, match="either a point layer or grid bounds"):
        embed_locations(model, tmp_path / "a.tif")
    with pytest.raises(EngineError, match="not valid coordinates"):
        embed_locations(model, tmp_path / "a.tif", bounds=(500000, 3999000, 501000, 4000000),
                        step_m=100, crs="EPSG:4326")
    with pytest.raises(EngineError, match="positive number of metres"):
        embed_locations(model, tmp_path / "a.tif", bounds=(0, 0, 1, 1), step_m=0)
    with pytest.raises(EngineError, match="GeoTIFF"):
        embed_locations(model, tmp_path / "a.gpkg", bounds=(0, 0, 1, 1), step_m=100)
    assert not list(tmp_path.iterdir())
