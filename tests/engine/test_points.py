"""read_streetview: OGR layers, CSV, QGIS importphotos output; every error names the bad input."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from PIL import Image

from engine.data.crs import check_same_crs, common_crs, transform_xy
from engine.data.points import layer_from_frame, read_streetview
from engine.errors import EngineError

LONLAT = [(-80.8431, 35.2271), (-80.84311, 35.2271), (-80.8400, 35.2300)]


def _photos(folder: Path, n: int = 3) -> list[str]:
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    names = [f"photos/p{i}.jpg" for i in range(n)]
    for name in names:
        Image.new("RGB", (8, 8), (20, 40, 60)).save(folder / name)
    return names


def _gdf(tmp_path: Path, crs: str = "EPSG:4326", **fields) -> gpd.GeoDataFrame:
    data = {"image": _photos(tmp_path), "captured_at": ["2024-05-03T14:20:00Z"] * 3,
            "heading": [0.0, 90.0, 180.0]}
    data.update(fields)
    frame = gpd.GeoDataFrame(data, geometry=[shapely.Point(p) for p in LONLAT], crs=4326)
    return frame.to_crs(crs)


def _gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str = "streetview") -> Path:
    pyogrio.write_dataframe(frame, path, layer=layer, VERSION="1.2")
    return path


def test_csv_with_lon_lat(tmp_path):
    images = _photos(tmp_path)
    pd.DataFrame({"Longitude": [p[0] for p in LONLAT], "lat": [p[1] for p in LONLAT],
                  "image": images, "captured_at": ["2024-05-03T16:20:00+02:00", "", None],
                  "heading": [10.0, -90.0, None], "income": [1.0, 2.0, 3.0]}
                 ).to_csv(tmp_path / "sv.csv", index=False)
    layer = read_streetview(tmp_path / "sv.csv")
    frame = layer.frame
    np.testing.assert_allclose(layer.lonlat(), LONLAT)
    assert frame["image"].tolist() == [str(tmp_path / i) for i in images]
    assert str(frame["captured_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["captured_at"].iloc[0] == pd.Timestamp("2024-05-03T14:20:00Z")
    assert frame["captured_at"].iloc[1:].isna().all() and layer.has_times
    np.testing.assert_allclose(frame["heading"].to_numpy(), [10.0, 270.0, np.nan])
    assert frame["income"].tolist() == [1.0, 2.0, 3.0]
    # points 0 and 1 are < 1 m apart: one derived location; point 2 is hundreds of metres off
    assert frame["location_id"].tolist() == [0, 0, 1] and layer.location_ids_derived
    assert layer.xy_crs.to_epsg() == 32617
    assert np.linalg.norm(layer.xy()[0] - layer.xy()[1]) < 2.0


def test_csv_x_y_needs_crs(tmp_path):
    images = _photos(tmp_path)
    xy = transform_xy(np.array(LONLAT), "EPSG:4326", "EPSG:32617")
    pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "image": images}).to_csv(tmp_path / "a.csv",
                                                                          index=False)
    with pytest.raises(EngineError, match="need a CRS"):
        read_streetview(tmp_path / "a.csv")
    layer = read_streetview(tmp_path / "a.csv", crs="EPSG:32617")
    np.testing.assert_allclose(layer.lonlat(), LONLAT, atol=1e-9)
    assert not layer.has_times and layer.frame["captured_at"].isna().all()


def test_csv_without_coordinates_lists_columns_and_accepted_names(tmp_path):
    pd.DataFrame({"where": [1], "image": ["a.jpg"]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(EngineError) as err:
        read_streetview(tmp_path / "a.csv")
    assert "where, image" in err.value.message and "a.csv" in err.value.message
    assert "longitude" in err.value.hint and "latitude" in err.value.hint


def test_csv_bad_coordinates_name_lines(tmp_path):
    images = _photos(tmp_path)
    pd.DataFrame({"lon": [1.0, "abc", 2.0], "lat": [50.0, 50.0, 95.0], "image": images}
                 ).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(EngineError, match=r"line 3\b.*"):
        read_streetview(tmp_path / "a.csv")


def test_geojson_4326_and_gpkg_3857_give_same_lonlat(tmp_path):
    geojson = tmp_path / "a.geojson"
    pyogrio.write_dataframe(_gdf(tmp_path), geojson, driver="GeoJSON")
    gpkg = _gpkg(_gdf(tmp_path, "EPSG:3857"), tmp_path / "b.gpkg")
    a, b = read_streetview(geojson), read_streetview(gpkg)
    assert b.crs.to_epsg() == 3857
    np.testing.assert_allclose(a.lonlat(), b.lonlat(), atol=1e-9)
    np.testing.assert_allclose(a.lonlat(), LONLAT, atol=1e-9)
    # Web Mercator is in "metres" but 22 % too long here: both measure in local UTM
    assert a.xy_crs.to_epsg() == b.xy_crs.to_epsg() == 32617
    np.testing.assert_allclose(a.xy(), b.xy(), atol=1e-6)


def test_shapefile_reads(tmp_path):
    path = tmp_path / "sv.shp"
    pyogrio.write_dataframe(_gdf(tmp_path, "EPSG:32617", location_id=[7, 7, 8]), path)
    layer = read_streetview(path)
    assert layer.frame["location_id"].tolist() == [7, 7, 8] and not layer.location_ids_derived
    np.testing.assert_allclose(layer.lonlat(), LONLAT, atol=1e-9)


def test_qgis_importphotos_output_reads_as_is(tmp_path):
    images = _photos(tmp_path)
    frame = gpd.GeoDataFrame(
        {"photo": [str(tmp_path / i) for i in images],
         "filename": [Path(i).name for i in images],
         "directory": [str(tmp_path / "photos")] * 3,
         "altitude": [210.0, 211.0, np.nan], "direction": [45.0, 40.0, np.nan],
         "rotation": pd.array([None, 90, None], dtype="Int32"),
         # QGIS 3.22 writes longitude/latitude as String fields, the geometry as PointZ
         "longitude": [str(p[0]) for p in LONLAT], "latitude": [str(p[1]) for p in LONLAT],
         "timestamp": pd.to_datetime(["2024-05-03 14:20:00", "2024-05-04 09:00:00", None])},
        geometry=[shapely.Point(lon, lat, 200.0) for lon, lat in LONLAT], crs="EPSG:4326")
    path = _gpkg(frame, tmp_path / "imported.gpkg", layer="Photos")
    assert pyogrio.read_info(path)["dtypes"].tolist()[-1].startswith("datetime64")
    layer = read_streetview(path)
    out = layer.frame
    assert out["image"].tolist() == frame["photo"].tolist()
    np.testing.assert_allclose(out["heading"].to_numpy(), [45.0, 40.0, np.nan])
    assert out["captured_at"].iloc[1] == pd.Timestamp("2024-05-04T09:00:00Z")
    assert pd.isna(out["captured_at"].iloc[2]) and layer.has_times
    np.testing.assert_allclose(layer.lonlat(), LONLAT, atol=1e-9)
    assert out["source_fid"].tolist() == [1, 2, 3] and out["source_fid"].dtype == np.int64


def test_unparseable_time_names_file_row_and_value(tmp_path):
    path = _gpkg(_gdf(tmp_path, captured_at=["2024-05-03T14:20:00Z", "3rd of May", ""]),
                 tmp_path / "t.gpkg")
    with pytest.raises(EngineError) as err:
        read_streetview(path)
    msg = err.value.message
    assert "t.gpkg" in msg and "feature id 2" in msg and "'3rd of May'" in msg


def test_bad_heading_names_row(tmp_path):
    path = _gpkg(_gdf(tmp_path, heading=["north", "90", None]), tmp_path / "h.gpkg")
    with pytest.raises(EngineError, match=r"feature id 1: 'north'"):
        read_streetview(path)


def test_null_and_empty_geometries_name_rows(tmp_path):
    frame = _gdf(tmp_path)
    frame.loc[1, "geometry"] = None
    frame.loc[2, "geometry"] = shapely.Point()
    with pytest.raises(EngineError, match=r"no geometry.*feature ids 2, 3"):
        read_streetview(_gpkg(frame, tmp_path / "g.gpkg"))


def test_nan_and_non_point_geometries_name_rows(tmp_path):
    frame = _gdf(tmp_path)
    frame.loc[0, "geometry"] = shapely.Point(np.nan, 1.0)
    with pytest.raises(EngineError, match=r"NaN or infinite at feature id 0"):
        layer_from_frame(frame, source=tmp_path / "mem.gpkg")
    frame = _gdf(tmp_path)
    frame.loc[2, "geometry"] = shapely.LineString([(0, 0), (1, 1)])
    with pytest.raises(EngineError, match=r"found LineString at feature id 3"):
        read_streetview(_gpkg(frame, tmp_path / "l.gpkg"))


def test_empty_layer_is_an_error(tmp_path):
    path = _gpkg(_gdf(tmp_path).iloc[:0], tmp_path / "empty.gpkg")
    with pytest.raises(EngineError, match="empty.gpkg.*has no features"):
        read_streetview(path)


def test_missing_photos_named_and_counted(tmp_path):
    frame = _gdf(tmp_path, image=["photos/p0.jpg", "photos/gone1.jpg", "/nowhere/gone2.jpg"])
    path = _gpkg(frame, tmp_path / "m.gpkg")
    with pytest.raises(EngineError) as err:
        read_streetview(path)
    assert "2 of 3 photo file(s)" in err.value.message and "gone1.jpg" in err.value.message
    assert "--image-field" in err.value.hint and "check_images" not in err.value.hint
    layer = read_streetview(path, check_images=False)
    assert layer.frame["image"].iloc[2] == "/nowhere/gone2.jpg"


def test_a_copy_of_a_layer_reads_its_photos_from_the_original_folder(tmp_path):
    """QGIS saves selected features to a temporary file: --photo-dir names where the
    relative paths start."""
    frame = _gdf(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    copy = _gpkg(frame, tmp_path / "elsewhere" / "INPUT.gpkg")
    with pytest.raises(EngineError, match="3 of 3 photo file"):
        read_streetview(copy)
    layer = read_streetview(copy, photo_dir=tmp_path)
    assert layer.frame["image"].tolist() == [str(tmp_path / n) for n in frame["image"]]
    with pytest.raises(EngineError, match="photo folder .*gone does not exist"):
        read_streetview(copy, photo_dir=tmp_path / "gone")


def test_missing_image_field_and_layer_choice(tmp_path):
    frame = _gdf(tmp_path).rename(columns={"image": "picture"})
    path = _gpkg(frame, tmp_path / "x.gpkg", layer="one")
    with pytest.raises(EngineError, match="no photo path field; fields are picture"):
        read_streetview(path)
    assert len(read_streetview(path, image_field="picture")) == 3
    _gpkg(frame, path, layer="two")
    with pytest.raises(EngineError, match=r"several layers \(one, two\)"):
        read_streetview(path)
    with pytest.raises(EngineError, match="no layer 'three'"):
        read_streetview(path, layer="three")


def test_the_only_point_layer_is_picked(tmp_path):
    path = _gpkg(_gdf(tmp_path), tmp_path / "mixed.gpkg", layer="photos")
    tracts = gpd.GeoDataFrame({"tract_id": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4326)
    _gpkg(tracts, path, layer="tracts")
    assert len(read_streetview(path)) == 3


def test_headings_wrap_into_0_360(tmp_path):
    path = _gpkg(_gdf(tmp_path, heading=[-1e-14, 360.0, -359.5]), tmp_path / "w.gpkg")
    headings = read_streetview(path).frame["heading"].to_numpy()
    assert ((headings >= 0) & (headings < 360)).all()
    np.testing.assert_allclose(headings, [0.0, 0.0, 0.5])


def test_missing_file_and_missing_crs(tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        read_streetview(tmp_path / "nope.gpkg")
    frame = _gdf(tmp_path, "EPSG:32617").set_crs(None, allow_override=True)
    path = _gpkg(frame, tmp_path / "nocrs.gpkg")
    with pytest.raises(EngineError, match="nocrs.gpkg.*has no CRS"):
        read_streetview(path)
    np.testing.assert_allclose(read_streetview(path, crs=32617).lonlat(), LONLAT, atol=1e-9)


def test_explicit_crs_overrides_the_declared_one_with_a_warning(tmp_path, caplog):
    frame = _gdf(tmp_path, "EPSG:32617").set_crs("EPSG:32616", allow_override=True)
    path = _gpkg(frame, tmp_path / "wrong.gpkg")
    layer = read_streetview(path, crs="EPSG:32617")
    assert "declares EPSG:32616; using the given crs EPSG:32617" in caplog.text
    np.testing.assert_allclose(layer.lonlat(), LONLAT, atol=1e-9)


def test_crs_helpers(tmp_path):
    layer = read_streetview(_gpkg(_gdf(tmp_path, "EPSG:3857"), tmp_path / "c.gpkg"))
    xy_utm = layer.xy_in("EPSG:32617")
    np.testing.assert_allclose(transform_xy(xy_utm, 32617, 4326), LONLAT, atol=1e-9)
    assert layer.xy_crs.to_epsg() == 32617  # 3857 distorts distances: local UTM instead
    utm = read_streetview(_gpkg(_gdf(tmp_path, "EPSG:32617"), tmp_path / "u.gpkg"))
    assert utm.xy_crs.to_epsg() == 32617
    np.testing.assert_allclose(utm.xy(), xy_utm, atol=1e-6)
    with pytest.raises(EngineError, match="raster is in EPSG:32617 but points is in EPSG:3857"):
        check_same_crs("EPSG:32617", layer.crs, "raster", "points")
    assert common_crs(None, "EPSG:32617", layer.crs).to_epsg() == 32617
    with pytest.raises(EngineError, match="not a coordinate reference system"):
        transform_xy(xy_utm, "EPSG:999999", 4326)


def test_headings_beyond_one_turn_are_refused(tmp_path):
    path = _gpkg(_gdf(tmp_path, heading=[10.0, 720.0, None]), tmp_path / "t.gpkg")
    with pytest.raises(EngineError, match=r"'heading'.*-360\.\.360.*720"):
        read_streetview(path)
