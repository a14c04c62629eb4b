"""read_exif_folder: JPEG EXIF GPS/time/heading -> EPSG:4326 street-view layer."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from engine.data.exif import read_exif_folder
from engine.data.points import read_streetview
from engine.errors import EngineError


def _jpeg(path, lon=None, lat=None, heading=None, when=None, offset=None, dt_ifd0=None):
    exif = Image.Exif()
    if lon is not None:
        gps = {1: "N" if lat >= 0 else "S", 3: "E" if lon >= 0 else "W"}
        for tag, value in ((2, abs(lat)), (4, abs(lon))):
            deg = int(value)
            minutes = int((value - deg) * 60)
            seconds = round(((value - deg) * 60 - minutes) * 60, 4)
            gps[tag] = (float(deg), float(minutes), seconds)
        if heading is not None:
            gps[16], gps[17] = "T", heading
        exif[0x8825] = gps
    sub = {}
    if when is not None:
        sub[0x9003] = when
    if offset is not None:
        sub[0x9011] = offset
    if sub:
        exif[0x8769] = sub
    if dt_ifd0 is not None:
        exif[0x0132] = dt_ifd0
    Image.new("RGB", (8, 8), (50, 100, 150)).save(path, exif=exif)


def test_reads_lon_lat_time_heading(tmp_path):
    _jpeg(tmp_path / "a.jpg", lon=-80.8431, lat=35.2271, heading=90.5,
          when="2024:05:03 10:20:00", offset="-04:00")
    _jpeg(tmp_path / "b.JPG", lon=151.2093, lat=-33.8688, heading=359.5,
          when="2024:05:03 14:20:00")
    layer = read_exif_folder(tmp_path)
    assert len(layer) == 2 and layer.skipped == 0 and layer.has_times
    assert layer.crs.to_epsg() == 4326
    lonlat = layer.lonlat()
    np.testing.assert_allclose(lonlat[0], [-80.8431, 35.2271], atol=1e-6)
    np.testing.assert_allclose(lonlat[1], [151.2093, -33.8688], atol=1e-6)
    frame = layer.frame
    assert frame["captured_at"].tolist() == [pd.Timestamp("2024-05-03T14:20:00Z")] * 2
    np.testing.assert_allclose(frame["heading"], [90.5, 359.5])
    assert frame["image"].tolist() == [str(tmp_path / "a.jpg"), str(tmp_path / "b.JPG")]
    assert frame["location_id"].tolist() == [0, 1]


def test_heading_beyond_one_turn_is_refused_not_wrapped(tmp_path):
    _jpeg(tmp_path / "a.jpg", lon=10.0, lat=50.0, heading=370.0, when="2024:05:03 10:20:00")
    with pytest.raises(EngineError, match="heading"):
        read_exif_folder(tmp_path)


def test_photos_without_gps_are_skipped_and_counted(tmp_path, caplog):
    _jpeg(tmp_path / "a.jpg", lon=10.0, lat=50.0)
    _jpeg(tmp_path / "nogps.jpg", when="2024:01:01 00:00:00")
    with caplog.at_level(logging.WARNING):
        layer = read_exif_folder(tmp_path)
    assert len(layer) == 1 and layer.skipped == 1
    assert "nogps.jpg" in caplog.text


def test_missing_time_is_nat_and_ifd0_datetime_is_used(tmp_path):
    _jpeg(tmp_path / "a.jpg", lon=10.0, lat=50.0)
    _jpeg(tmp_path / "b.jpg", lon=10.001, lat=50.0, dt_ifd0="2023:12:31 23:59:59")
    frame = read_exif_folder(tmp_path).frame
    assert pd.isna(frame["captured_at"].iloc[0])
    assert frame["captured_at"].iloc[1] == pd.Timestamp("2023-12-31T23:59:59Z")
    assert np.isnan(frame["heading"]).all()


def test_no_times_at_all_gives_has_times_false(tmp_path):
    _jpeg(tmp_path / "a.jpg", lon=10.0, lat=50.0)
    assert not read_exif_folder(tmp_path).has_times


def test_folder_without_geotagged_photos_is_an_error(tmp_path):
    _jpeg(tmp_path / "a.jpg")
    with pytest.raises(EngineError, match="no JPEG with an EXIF GPS position"):
        read_exif_folder(tmp_path)


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(EngineError, match="0 JPEG"):
        read_exif_folder(tmp_path)
    with pytest.raises(EngineError, match="does not exist"):
        read_exif_folder(tmp_path / "absent")


def test_bad_exif_date_names_file(tmp_path):
    _jpeg(tmp_path / "odd.jpg", lon=10.0, lat=50.0, when="yesterday")
    with pytest.raises(EngineError, match="odd.jpg.*'yesterday'"):
        read_exif_folder(tmp_path)


def test_read_streetview_on_a_folder_uses_exif(tmp_path):
    _jpeg(tmp_path / "a.jpg", lon=2.35, lat=48.85, heading=180.0)
    layer = read_streetview(tmp_path)
    assert layer.frame["heading"].tolist() == [180.0]
    assert layer.xy_crs.to_epsg() == 32631
