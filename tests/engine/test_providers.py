"""Provider exports read as they are: Mapillary GeoJSON/CSV and KartaView fields -> the
engine's fields, with a report of what was found; sequences restrict positive pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from PIL import Image

from engine.cli.main import main
from engine.data.pairs import PairParams, mine_pairs
from engine.data.points import read_streetview
from engine.errors import EngineError

# 2024-05-03T14:20:00Z and 2024-07-01T08:00:00.250Z in epoch milliseconds
MS = (1714746000000, 1719820800250)
LON, LAT = -83.0, 39.96
SHIFT = 0.0002  # the original GPS position lies ~17 m east of the computed one


def mapillary_export(folder: Path, pano: bool = False) -> Path:
    """A Mapillary-style GeoJSON as the API returns it, photos downloaded as <id>.jpg."""
    feats = []
    for k, ms in enumerate(MS):
        pid = 4000000000000 + k  # Mapillary ids are large integers
        size = (64, 32) if pano else (48, 36)
        Image.new("RGB", size, (90, 120, 150)).save(folder / f"{pid}.jpg")
        lon = LON + k * 0.001
        feats.append({"type": "Feature",
                      "geometry": {"type": "Point", "coordinates": [lon + SHIFT, LAT]},
                      "properties": {"id": pid, "captured_at": ms, "compass_angle": 10.0 + k,
                                     "computed_compass_angle": 20.0 + k, "is_pano": pano,
                                     "sequence": "seqA" if k == 0 else "seqB",
                                     "computed_geometry": {"type": "Point",
                                                           "coordinates": [lon, LAT]}}})
    path = folder / "mapillary.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_mapillary_geojson_epoch_ms_times_and_headings(tmp_path: Path) -> None:
    layer = read_streetview(mapillary_export(tmp_path))
    frame = layer.frame
    times = frame["captured_at"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").tolist()
    assert times == ["2024-05-03T14:20:00.000000", "2024-07-01T08:00:00.250000"]
    assert frame["heading"].tolist() == [20.0, 21.0]  # computed_compass_angle by default
    assert frame["sequence_id"].tolist() == ["seqA", "seqB"]
    assert frame.geometry.x.tolist() == pytest.approx([LON, LON + 0.001])  # computed position
    assert frame["image"].tolist() == [str(tmp_path / f"{4000000000000 + k}.jpg")
                                       for k in range(2)]
    assert layer.found["provider"] == "mapillary"
    assert "epoch ms" in layer.found["captured_at"]
    assert layer.found["heading"].startswith("computed_compass_angle")

    original = read_streetview(tmp_path / "mapillary.geojson", position="original").frame
    assert original["heading"].tolist() == [10.0, 11.0]
    assert original.geometry.x.tolist() == pytest.approx([LON + SHIFT, LON + 0.001 + SHIFT])


def test_import_photos_reports_and_cuts_mapillary_panoramas(tmp_path: Path, capsys) -> None:
    source = mapillary_export(tmp_path, pano=True)
    out = tmp_path / "sv.gpkg"
    assert main(["import-photos", "--input", str(source), "--out", str(out),
                 "--view-headings", "0,120,240", "--events", "jsonl"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outputs"]
    assert result["panoramas"] == 2 and result["views"] == 6 and result["photos"] == 6
    assert result["found"]["sequence_id"] == "sequence"
    assert result["found"]["is_pano"].startswith("is_pano")
    frame = pyogrio.read_dataframe(out)
    assert frame["captured_at"].tolist()[:3] == ["2024-05-03T14:20:00Z"] * 3
    assert frame["heading"].tolist() == pytest.approx([20, 140, 260, 21, 141, 261])
    assert frame["view_yaw"].tolist() == [0, 120, 240] * 2
    assert frame.groupby("source_fid")["location_id"].nunique().eq(1).all()
    assert json.loads(frame["computed_geometry"].iloc[0])["type"] == "Point"


def test_missing_downloads_name_the_image_template_flag(tmp_path: Path) -> None:
    source = mapillary_export(tmp_path)
    (tmp_path / "4000000000000.jpg").unlink()
    with pytest.raises(EngineError) as info:
        read_streetview(source)
    assert "4000000000000.jpg" in info.value.message
    (tmp_path / "images").mkdir()
    for k in range(2):
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / f"{4000000000000 + k}.jpg")
    layer = read_streetview(source, image_template="images/{id}.jpg")
    assert layer.frame["image"].iloc[0].endswith("images/4000000000000.jpg")


def test_kartaview_csv_fields(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg"):
        Image.new("RGB", (40, 30)).save(tmp_path / name)
    pd.DataFrame({"name": ["a.jpg", "b.jpg"], "lat": [LAT, LAT], "lng": [LON, LON + 0.001],
                  "matchLat": [LAT + 1e-5, LAT], "matchLng": [LON, LON + 0.001],
                  "heading": [45.0, 90.0], "shotDate": ["2021-06-01 10:00:00", ""],
                  "sequenceId": [77, 78], "projection": ["PLANE", "SPHERE"]}
                 ).to_csv(tmp_path / "kv.csv", index=False)
    layer = read_streetview(tmp_path / "kv.csv", image_field="name")
    frame = layer.frame
    assert layer.found["provider"] == "kartaview"
    assert str(frame["captured_at"].iloc[0]) == "2021-06-01 10:00:00+00:00"
    assert pd.isna(frame["captured_at"].iloc[1])
    assert frame["sequence_id"].tolist() == ["77", "78"]
    assert frame["is_pano"].tolist() == [0.0, 1.0]
    assert frame["heading"].tolist() == [45.0, 90.0]
    assert frame.geometry.y.iloc[0] == pytest.approx(LAT + 1e-5)  # map-matched position


def test_same_sequence_positives_can_be_excluded(tmp_path: Path) -> None:
    """Two drives pass the same 4 spots; with exclude_same_sequence a photo's spatial
    partners all come from the other drive."""
    rows = []
    for seq, day in (("drive1", "2024-05-01"), ("drive2", "2024-05-20")):
        for k in range(4):
            name = f"{seq}_{k}.jpg"
            Image.new("RGB", (8, 8)).save(tmp_path / name)
            rows.append({"image": name, "x": 1000.0 + 20 * k + (seq == "drive2") * 8,
                         "y": 0.0, "captured_at": f"{day}T10:00:00Z", "sequence": seq})
    pd.DataFrame(rows).to_csv(tmp_path / "drives.csv", index=False)
    layer = read_streetview(tmp_path / "drives.csv", crs="EPSG:32617")
    seq = layer.frame["sequence_id"].to_numpy()
    both = mine_pairs(layer, ("spatial",), PairParams()).spatial.to_pairs()
    assert (seq[both[:, 0]] == seq[both[:, 1]]).any()
    apart = mine_pairs(layer, ("spatial",), PairParams(exclude_same_sequence=True))
    pairs = apart.spatial.to_pairs()
    assert len(pairs) > 0 and (seq[pairs[:, 0]] != seq[pairs[:, 1]]).all()
    with pytest.raises(EngineError, match="sequence_id"):
        plain = read_streetview(tmp_path / "drives.csv", crs="EPSG:32617")
        plain.frame = plain.frame.drop(columns=["sequence_id"])
        mine_pairs(plain, ("spatial",), PairParams(exclude_same_sequence=True))


def test_bad_position_choice_is_clear(tmp_path: Path) -> None:
    with pytest.raises(EngineError) as info:
        read_streetview(mapillary_export(tmp_path), position="gps")
    assert "--position" in info.value.hint
