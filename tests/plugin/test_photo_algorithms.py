"""validate_layer / import_photos through the real engine subprocess, in real QGIS."""

from __future__ import annotations

import ast
import json
import subprocess
import time

import pytest
from conftest import RecordingFeedback
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsVectorFileWriter,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QVariant
from qgis.PyQt.QtWidgets import QTextEdit

from qgis_plugin.engine_runner import child_environment

SCHEMA = ["image", "captured_at", "heading", "location_id"]


# Photos are written by the engine's Pillow (the QGIS venv may have none): one subprocess.
_WRITE_PHOTOS = """
import json, sys
from PIL import Image
for path, gps, when in json.loads(sys.argv[1]):
    exif = Image.Exif()
    if gps:
        lon, lat, heading = gps
        exif[0x8825] = {1: "N", 2: (lat, 0.0, 0.0), 3: "W", 4: (abs(lon), 0.0, 0.0),
                        16: "T", 17: heading}
    if when:
        exif[0x0132] = when
    Image.new("RGB", (16, 16), (40, 160, 90)).save(path, exif=exif)
"""


@pytest.fixture()
def photo_folder(tmp_path, engine_python):
    """Two JPEGs with EXIF GPS position, direction and time; one without GPS."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = [(str(folder / "p1.jpg"), (-79.9, 40.4, 90.0), "2024:05:03 14:20:00"),
              (str(folder / "p2.jpg"), (-79.9002, 40.4, 270.0), "2024:07:01 08:00:00"),
              (str(folder / "no_gps.jpg"), None, None)]
    subprocess.run([engine_python, "-c", _WRITE_PHOTOS, json.dumps(photos)], check=True,
                   env=child_environment())
    return folder


def points_gpkg(tmp_path, photos: list[str]):
    """A real GeoPackage point layer in EPSG:32617 with relative photo paths."""
    layer = QgsVectorLayer("Point?crs=EPSG:32617", "pts", "memory")
    layer.dataProvider().addAttributes([QgsField("photo", QVariant.String),
                                        QgsField("captured_at", QVariant.String),
                                        QgsField("income", QVariant.Double)])
    layer.updateFields()
    features = []
    for i, photo in enumerate(photos):
        feature = QgsFeature(layer.fields())
        feature.setAttributes([photo, f"2024-05-0{i + 1}T10:00:00Z", 1000.0 * (i + 1)])
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(500000 + 20 * i, 4400000)))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "pts"
    path = str(tmp_path / "points.gpkg")
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, QgsVectorLayer("Point", "x", "memory").transformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    return path


def open_result(path: str) -> QgsVectorLayer:
    layer = QgsVectorLayer(path, "result", "ogr")
    assert layer.isValid(), path
    assert layer.geometryType() == QgsWkbTypes.PointGeometry
    assert layer.fields().names()[1:5] == SCHEMA  # fid first
    return layer


def test_validate_file_layer_with_relative_paths(geocontrast_provider, tmp_path, photo_folder):
    import processing

    source = points_gpkg(tmp_path, ["photos/p1.jpg", "photos/p2.jpg"])
    result = processing.run("geocontrast:validate_layer",
                            {"INPUT": source, "OUTPUT": str(tmp_path / "sv.gpkg")})
    layer = open_result(result["OUTPUT"])
    assert layer.crs() == QgsCoordinateReferenceSystem("EPSG:32617")
    rows = sorted(f.attributes()[1:] for f in layer.getFeatures())
    assert rows[0][0] == str(photo_folder / "p1.jpg")
    assert rows[0][1] == "2024-05-01T10:00:00Z"
    assert layer.fields().indexOf("income") >= 0 and layer.featureCount() == 2
    assert set(result) == {"OUTPUT"}  # the declared output only, not the engine's dict


def test_validate_selected_features_keeps_relative_paths(geocontrast_provider, tmp_path,
                                                         photo_folder, clean_project):
    """"Selected features only": Processing saves the selection to a temporary file, whose
    relative photo paths must still start from the original layer's folder."""
    import processing
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject

    layer = QgsVectorLayer(points_gpkg(tmp_path, ["photos/p1.jpg", "photos/p2.jpg"]), "pts")
    QgsProject.instance().addMapLayer(layer)
    layer.selectByExpression("income > 1500")
    result = processing.run("geocontrast:validate_layer", {
        "INPUT": QgsProcessingFeatureSourceDefinition(layer.id(), True),
        "OUTPUT": str(tmp_path / "sv.gpkg")})
    rows = [f.attributes()[1:] for f in open_result(result["OUTPUT"]).getFeatures()]
    assert [r[0] for r in rows] == [str(photo_folder / "p2.jpg")]


def test_validate_native_importphotos_output(geocontrast_provider, tmp_path, photo_folder):
    import processing

    exif = processing.run("native:importphotos", {"FOLDER": str(photo_folder),
                                                  "OUTPUT": "TEMPORARY_OUTPUT"})
    assert exif["OUTPUT"].featureCount() == 2  # memory layer: must be exported for the engine
    result = processing.run("geocontrast:validate_layer",
                            {"INPUT": exif["OUTPUT"], "OUTPUT": "TEMPORARY_OUTPUT"})
    layer = open_result(result["OUTPUT"])
    headings = sorted(f["heading"] for f in layer.getFeatures())
    assert headings == [90.0, 270.0]
    assert layer.crs() == QgsCoordinateReferenceSystem("EPSG:4326")


def test_import_photos_folder(geocontrast_provider, tmp_path, photo_folder):
    import processing

    feedback = RecordingFeedback()
    result = processing.run("geocontrast:import_photos",
                            {"FOLDER": str(photo_folder), "OUTPUT": str(tmp_path / "sv.gpkg")},
                            feedback=feedback)
    layer = open_result(result["OUTPUT"])
    assert layer.featureCount() == 2 and set(result) == {"OUTPUT"}
    assert "warning: 1 photo(s) without a GPS position were left out." in feedback.messages
    summary = next(m for m in feedback.messages if m.startswith("Import geotagged"))
    assert "  2 street-view points, 2 locations, 1 left out" in summary.splitlines()
    times = sorted(f["captured_at"] for f in layer.getFeatures())
    assert times == ["2024-05-03T14:20:00Z", "2024-07-01T08:00:00Z"]


def test_dialog_log_shows_the_summary_and_only_declared_outputs(
        geocontrast_provider, tmp_path, photo_folder, qgis_iface, monkeypatch, clean_project):
    """The real algorithm dialog, run as an analyst runs it: its log holds the human summary,
    and the results dict it prints after "Results:" holds the declared outputs only."""
    import processing
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()  # the test iface has none; the dialog's file widgets ask
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    dialog = processing.createAlgorithmDialog("geocontrast:import_photos", {
        "FOLDER": str(photo_folder), "OUTPUT": str(tmp_path / "sv.gpkg")})
    finished: list = []
    dialog.algorithmFinished.connect(lambda ok, results: finished.append((ok, results)))
    try:
        dialog.runAlgorithm()  # the OK button: a QgsProcessingAlgRunnerTask
        deadline = time.monotonic() + 300
        while not finished and time.monotonic() < deadline:
            QCoreApplication.processEvents()
            time.sleep(0.05)
        assert finished and finished[0][0], "the dialog's run did not finish"
        declared = {o.name() for o in dialog.algorithm().outputDefinitions()}
        assert set(finished[0][1]) == declared == {"OUTPUT"}
        log = next(w for w in dialog.findChildren(QTextEdit) if "Results:" in w.toPlainText())
        text = log.toPlainText()  # what the analyst reads
        summary = text[text.index("Import geotagged photos: done"):text.index("Results:")]
        assert "2 street-view points, 2 locations, 1 left out" in summary
        printed = text[text.index("Results:") + len("Results:"):]
        shown = ast.literal_eval(printed[:printed.index("}") + 1].strip())
        assert set(shown) == {"OUTPUT"} and shown["OUTPUT"] == str(tmp_path / "sv.gpkg")
    finally:
        dialog.deleteLater()


def test_engine_error_reaches_user_as_processing_exception(geocontrast_provider, tmp_path):
    import processing

    source = points_gpkg(tmp_path, ["photos/gone.jpg"])  # the photo does not exist
    with pytest.raises(QgsProcessingException) as info:
        processing.run("geocontrast:validate_layer",
                       {"INPUT": source, "OUTPUT": str(tmp_path / "sv.gpkg")})
    text = str(info.value)
    assert text.startswith("GeoContrast engine: ") and "gone.jpg" in text
    assert "Hint: " in text
    assert not (tmp_path / "sv.gpkg").exists()


def test_checks_before_the_engine_starts(geocontrast_provider, tmp_path):
    import processing

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(QgsProcessingException, match="holds no .jpg/.jpeg files"):
        processing.run("geocontrast:import_photos",
                       {"FOLDER": str(empty), "OUTPUT": str(tmp_path / "sv.gpkg")})
    lines = QgsVectorLayer("LineString?crs=EPSG:32617&field=photo:string", "l", "memory")
    with pytest.raises(QgsProcessingException):
        processing.run("geocontrast:validate_layer",
                       {"INPUT": lines, "OUTPUT": str(tmp_path / "sv.gpkg")})
    no_photo = QgsVectorLayer("Point?crs=EPSG:32617&field=name:string", "p", "memory")
    feature = QgsFeature(no_photo.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(0, 0)))
    no_photo.dataProvider().addFeatures([feature])
    with pytest.raises(QgsProcessingException, match="no 'image' or 'photo' field"):
        processing.run("geocontrast:validate_layer",
                       {"INPUT": no_photo, "OUTPUT": str(tmp_path / "sv.gpkg")})
