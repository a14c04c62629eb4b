"""The import dialog's panorama options: offered in the real Processing dialog, passed to the
engine, and a folder mixing a 360° panorama and a photo gives one feature per view."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import RecordingFeedback
from qgis.core import QgsApplication, QgsProcessingException, QgsVectorLayer

from qgis_plugin.engine_runner import child_environment

PANORAMA_PARAMS = ["PANORAMAS", "VIEW_HEADINGS", "VIEW_FOV", "VIEW_REFERENCE"]

# Written by the engine's Pillow (the QGIS venv may have none): a 2:1 panorama and a 4:3 photo.
_WRITE = """
import json, sys
from PIL import Image
for path, size, heading in json.loads(sys.argv[1]):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (40.4, 0.0, 0.0), 3: "W", 4: (79.9, 0.0, 0.0), 16: "T",
                    17: heading}
    exif[0x0132] = "2024:05:03 14:20:00"
    Image.new("RGB", tuple(size), (90, 140, 200)).save(path, exif=exif)
"""


@pytest.fixture()
def mixed_folder(tmp_path, engine_python):
    folder = tmp_path / "mixed"
    folder.mkdir()
    photos = [(str(folder / "pano.jpg"), (128, 64), 30.0),
              (str(folder / "photo.jpg"), (40, 30), 200.0)]
    subprocess.run([engine_python, "-c", _WRITE, json.dumps(photos)], check=True,
                   env=child_environment())
    return folder


def test_import_dialog_offers_the_panorama_options(geocontrast_provider, qgis_iface,
                                                   monkeypatch):
    import processing
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # the test iface has none; the dialog's file widgets ask
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)

    alg = QgsApplication.processingRegistry().algorithmById("geocontrast:import_photos")
    names = [p.name() for p in alg.parameterDefinitions()]
    assert all(name in names for name in PANORAMA_PARAMS)
    assert alg.parameterDefinition("PANORAMAS").options()[0].startswith("auto")
    assert alg.parameterDefinition("VIEW_HEADINGS").defaultValue() == "0,90,180,270"
    assert alg.parameterDefinition("VIEW_FOV").defaultValue() == 90.0
    dialog = processing.createAlgorithmDialog("geocontrast:import_photos", {})
    try:
        shown = set(dialog.mainWidget().wrappers)
        assert set(PANORAMA_PARAMS) <= shown
    finally:
        dialog.deleteLater()


def test_mixed_folder_gives_one_feature_per_view(geocontrast_provider, tmp_path, mixed_folder):
    import processing

    feedback = RecordingFeedback()
    result = processing.run("geocontrast:import_photos", {
        "FOLDER": str(mixed_folder), "VIEW_HEADINGS": "0, 120,240", "VIEW_FOV": 75.0,
        "OUTPUT": str(tmp_path / "sv.gpkg")}, feedback=feedback)
    assert set(result) == {"OUTPUT"}
    assert "1 panorama(s) cut into 3 views." in feedback.messages
    layer = QgsVectorLayer(result["OUTPUT"], "views", "ogr")
    assert layer.isValid() and layer.featureCount() == 4
    rows = sorted((f["heading"], f["view_fov"]) for f in layer.getFeatures())
    assert [h for h, _ in rows] == pytest.approx([30.0, 150.0, 200.0, 270.0])
    assert [fov for h, fov in rows if h != 200.0] == [75.0] * 3
    assert len({f["location_id"] for f in layer.getFeatures()}) == 1

    whole = processing.run("geocontrast:import_photos", {
        "FOLDER": str(mixed_folder), "PANORAMAS": 2, "OUTPUT": str(tmp_path / "whole.gpkg")})
    assert QgsVectorLayer(whole["OUTPUT"], "whole", "ogr").featureCount() == 2


def test_bad_view_headings_are_refused_before_the_engine_starts(geocontrast_provider, tmp_path,
                                                                mixed_folder):
    import processing

    with pytest.raises(QgsProcessingException, match="view headings"):
        processing.run("geocontrast:import_photos", {
            "FOLDER": str(mixed_folder), "VIEW_HEADINGS": "north, east",
            "OUTPUT": str(tmp_path / "sv.gpkg")})
