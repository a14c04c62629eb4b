"""engine.api: fields as xarray with CRS and transform, points as GeoDataFrames, objects
handed from one stage to the next, and the CLI writing what the API writes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import torch
from rasterio.transform import from_origin
from test_embed_support import tiny_model, write_rgb_tif

from engine import api
from engine.errors import EngineError
from engine.export.fieldio import open_field, read_field_window
from engine.models.weights import save_model

torch.set_num_threads(1)
UTM = "EPSG:32617"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "tiny"
    save_model(tiny_model(location=True), out, extra_config={"data": {"chip_size": 8}})
    return out


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    return write_rgb_tif(tmp_path_factory.mktemp("api_r") / "in.tif", 40, 24, UTM,
                         from_origin(500000.0, 4000000.0, 0.5, 0.5), nodata_box=(0, 4, 0, 4))


def test_embed_raster_is_a_dataarray_with_crs_transform_and_coords(model_dir, raster,
                                                                    tmp_path) -> None:
    field = api.embed_raster(model_dir, raster, tmp_path / "f.tif", device="cpu")
    assert field.dims == ("band", "y", "x") and field.sizes == {"band": 16, "y": 12, "x": 20}
    assert field.attrs["crs"] == UTM and field.attrs["metadata"]["stride_px"] == 2
    assert field.attrs["transform"] == (1.0, 0.0, 500000.0, 0.0, -1.0, 4000000.0)
    assert field.x.values[:2].tolist() == [500000.5, 500001.5]
    assert field.y.values[:2].tolist() == [3999999.5, 3999998.5]
    assert "GeoTransform" in field.spatial_ref.attrs and field.spatial_ref.attrs["crs_wkt"]
    with open_field(tmp_path / "f.tif") as ds:
        data, valid = read_field_window(ds, rasterio.windows.Window(0, 0, ds.width, ds.height))
    np.testing.assert_array_equal(np.isnan(field.values).any(axis=0), ~valid)
    np.testing.assert_allclose(field.values[:, valid], data[:, valid])
    part = api.read_field(tmp_path / "f.tif", bbox=(500005.0, 3999990.0, 500010.0, 3999995.0))
    assert part.sizes == {"band": 16, "y": 5, "x": 5}
    assert part.x.values[0] == 500005.5 and part.y.values[0] == 3999994.5
    np.testing.assert_array_equal(part.values, field.sel(x=part.x, y=part.y).values)


def test_without_out_files_go_to_a_kept_temporary_folder(model_dir, raster, tmp_path,
                                                          monkeypatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    field = api.embed_raster(model_dir, raster, device="cpu", preview=False)
    assert field.attrs["outputs"]["output"] == field.attrs["path"]
    assert field.attrs["path"].startswith(str(tmp_path / "geocontrast-"))
    assert rasterio.open(field.attrs["path"]).count == 16


def test_embed_locations_at_points_is_a_geodataframe(model_dir, tmp_path) -> None:
    pts = gpd.GeoDataFrame({"site": ["a", "b", "c"]}, crs=UTM,
                           geometry=[shapely.Point(500000 + 10 * i, 4000000) for i in range(3)])
    frame = api.embed_locations(model_dir, tmp_path / "loc.gpkg", points=pts, device="cpu")
    assert list(frame["site"]) == ["a", "b", "c"] and frame.crs.to_string() == UTM
    vectors = np.stack(frame["embedding"].to_numpy())
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    assert not np.allclose(vectors[0], vectors[2])  # different places, different vectors


def test_objects_without_a_file_are_refused_with_a_hint() -> None:
    frame = gpd.GeoDataFrame({"y": [1.0]}, geometry=[shapely.Point(0, 0)], crs=UTM)
    with pytest.raises(EngineError, match="no file behind it") as err:
        api.fit("y", embeddings=frame)
    assert "engine.api" in err.value.hint


def test_the_cli_writes_what_the_api_writes(model_dir, raster, tmp_path) -> None:
    from engine.cli.main import main

    api_field = api.embed_raster(model_dir, raster, tmp_path / "api.tif", device="cpu")
    assert main(["embed-raster", "--model", str(model_dir), "--raster", str(raster),
                 "--out", str(tmp_path / "cli.tif"), "--device", "cpu"]) == 0
    cli_field = api.read_field(tmp_path / "cli.tif")
    np.testing.assert_array_equal(cli_field.values, api_field.values)
    assert cli_field.attrs["transform"] == api_field.attrs["transform"]
