"""`python -m engine import-photos`: point layers and EXIF folders -> normalised GeoPackage 1.2."""

from __future__ import annotations

import json
import logging
import sqlite3

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from PIL import Image

from engine.cli.main import main


@pytest.fixture(autouse=True)
def _root_handlers():
    """main() adds an events handler to the root logger; drop it after each test."""
    before = list(logging.getLogger().handlers)
    yield
    logging.getLogger().handlers[:] = before


def _photo(path, gps=None, when=None) -> None:
    exif = Image.Exif()
    if gps is not None:
        lon, lat, heading = gps
        exif[0x8825] = {1: "N" if lat >= 0 else "S", 2: (abs(lat), 0.0, 0.0),
                        3: "E" if lon >= 0 else "W", 4: (abs(lon), 0.0, 0.0),
                        16: "T", 17: heading}
    if when is not None:
        exif[0x0132] = when
    Image.new("RGB", (8, 8), (120, 30, 200)).save(path, exif=exif)


def _run(capsys, *argv: str) -> tuple[int, list[dict]]:
    code = main(["import-photos", *argv, "--events", "jsonl"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, events


def test_point_layer_with_importphotos_fields(tmp_path, capsys):
    for name in ("a.jpg", "b.jpg"):
        _photo(tmp_path / name)
    frame = gpd.GeoDataFrame(
        {"photo": ["a.jpg", "b.jpg"], "timestamp": ["2024-05-03T14:20:00Z", None],
         "direction": [90.0, None], "income": [1.5, 2.5]},
        geometry=[shapely.Point(500000, 4400000), shapely.Point(500030, 4400000)],
        crs="EPSG:32617")
    pyogrio.write_dataframe(frame, tmp_path / "in.gpkg", layer="pts")
    out = tmp_path / "out" / "sv.gpkg"

    code, events = _run(capsys, "--input", str(tmp_path / "in.gpkg"), "--out", str(out))

    assert code == 0
    result = events[-1]
    assert result["event"] == "result"
    assert result["outputs"]["photos"] == 2 and result["outputs"]["crs"] == "EPSG:32617"
    got = pyogrio.read_dataframe(out, layer="streetview")
    assert got.crs.to_epsg() == 32617
    assert list(got.columns[:4]) == ["image", "captured_at", "heading", "location_id"]
    assert got["image"].tolist() == [str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    assert got["captured_at"].iloc[0] == "2024-05-03T14:20:00Z"
    assert got["captured_at"].isna().iloc[1]          # missing stays missing
    assert got["heading"].iloc[0] == 90.0 and np.isnan(got["heading"].iloc[1])
    assert got["income"].tolist() == [1.5, 2.5]        # labels travel along
    assert "photo" not in got.columns and "timestamp" not in got.columns
    with sqlite3.connect(out) as db:                   # GeoPackage 1.2 for QGIS 3.22
        assert db.execute("PRAGMA user_version").fetchone()[0] == 10200
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # atomic


def test_exif_folder(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    _photo(photos / "p1.jpg", gps=(-79.9, 40.4, 45.0), when="2024:05:03 14:20:00")
    _photo(photos / "p2.jpg", gps=(-79.9001, 40.4, 180.0), when="2024:06:01 09:00:00")
    _photo(photos / "nogps.jpg", when="2024:06:01 09:00:00")
    out = tmp_path / "sv.gpkg"

    code, events = _run(capsys, "--input", str(photos), "--out", str(out))

    assert code == 0, events
    assert events[-1]["outputs"]["photos"] == 2 and events[-1]["outputs"]["skipped"] == 1
    got = pyogrio.read_dataframe(out).sort_values("image")
    assert got.crs.to_epsg() == 4326
    assert got["heading"].tolist() == [45.0, 180.0]
    assert got["captured_at"].tolist() == ["2024-05-03T14:20:00Z", "2024-06-01T09:00:00Z"]
    assert got.geometry.x.to_numpy() == pytest.approx([-79.9, -79.9001])


@pytest.mark.parametrize("case, needle", [
    ("missing", "does not exist"),
    ("not_gpkg", ".gpkg"),
    ("bad_field", "no field 'nope'"),
])
def test_errors_name_the_problem(tmp_path, capsys, case, needle):
    _photo(tmp_path / "a.jpg")
    frame = gpd.GeoDataFrame({"photo": ["a.jpg"]}, geometry=[shapely.Point(0, 0)],
                             crs="EPSG:32617")
    pyogrio.write_dataframe(frame, tmp_path / "in.gpkg")
    argv = {"missing": ["--input", str(tmp_path / "nope.gpkg"), "--out", str(tmp_path / "o.gpkg")],
            "not_gpkg": ["--input", str(tmp_path / "in.gpkg"), "--out", str(tmp_path / "o.shp")],
            "bad_field": ["--input", str(tmp_path / "in.gpkg"), "--image-field", "nope",
                          "--out", str(tmp_path / "o.gpkg")]}[case]
    code, events = _run(capsys, *argv)
    assert code == 2
    assert events[-1]["event"] == "error" and needle in events[-1]["message"]
    assert events[-1]["hint"]
    assert not (tmp_path / "o.gpkg").exists()


def test_exif_folder_without_times_keeps_them_missing(tmp_path, capsys):
    _photo(tmp_path / "p1.jpg", gps=(-79.9, 40.4, 10.0))
    out = tmp_path / "sv.gpkg"
    code, events = _run(capsys, "--input", str(tmp_path), "--out", str(out))
    assert code == 0, events
    assert events[-1]["outputs"]["has_times"] is False
    got = pyogrio.read_dataframe(out)
    assert got["captured_at"].isna().all() and got["heading"].tolist() == [10.0]
