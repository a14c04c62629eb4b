"""geocontrast:sample_city through the real engine subprocess, and cancelling a long run."""

from __future__ import annotations

import json

import pytest
from conftest import RecordingFeedback, wait_group_gone
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingContext,
    QgsProcessingException,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)


def test_small_city_loads_as_valid_layers(geocontrast_provider, clean_project, tmp_path):
    import processing

    out = tmp_path / "city"
    feedback = RecordingFeedback()
    result = processing.runAndLoadResults(
        "geocontrast:sample_city",
        {"PRESET": 0, "SEED": 0, "LOAD_LAYERS": True, "OUTPUT": str(out)},
        feedback=feedback,
    )
    manifest = json.loads((out / "city.json").read_text())
    assert manifest["crs"] == "EPSG:32617" and manifest["preset"] == "small"
    assert result["OUTPUT"] == str(out)
    assert set(result) == {"OUTPUT", "STREETVIEW", "TRACTS", "OVERHEAD"}  # declared only

    streetview = QgsVectorLayer(result["STREETVIEW"], "sv", "ogr")
    assert streetview.isValid()
    assert streetview.geometryType() == QgsWkbTypes.PointGeometry
    assert streetview.crs() == QgsCoordinateReferenceSystem("EPSG:32617")
    assert streetview.featureCount() > 0
    for field in ("photo_id", "location_id", "image", "captured_at", "heading"):
        assert streetview.fields().indexOf(field) >= 0, field
    first = next(streetview.getFeatures())
    assert (out / first["image"]).is_file()

    loaded = {layer.name(): layer for layer in clean_project.mapLayers().values()}
    assert {"Street views", "Tracts", "Overhead (latest date)"} <= set(loaded)
    assert loaded["Street views"].isValid()
    assert loaded["Street views"].crs().authid() == "EPSG:32617"
    assert loaded["Street views"].featureCount() == streetview.featureCount()
    overhead = loaded["Overhead (latest date)"]
    assert isinstance(overhead, QgsRasterLayer) and overhead.isValid()
    assert overhead.bandCount() == 3 and overhead.crs().authid() == "EPSG:32617"
    assert any("engine: " in m for m in feedback.messages)  # progress reached the user


def test_cancel_stops_the_engine_promptly(geocontrast_provider, tmp_path):
    import processing

    out = tmp_path / "city"
    feedback = RecordingFeedback(cancel_on_progress=True)
    timer = feedback.cancel_later(3.0)  # whichever comes first: first progress event or 3 s
    try:
        with pytest.raises(QgsProcessingException, match="cancelled"):
            processing.run("geocontrast:sample_city",
                           {"PRESET": 1, "SEED": 0, "LOAD_LAYERS": False, "OUTPUT": str(out)},
                           context=QgsProcessingContext(), feedback=feedback)
    finally:
        timer.cancel()
    assert feedback.canceled_at is not None
    assert feedback.progress() < 100  # stopped part-way, not run to the end
    assert feedback.pid is not None
    assert wait_group_gone(feedback.pid) == []  # no engine process (or child) is left
    assert not (out / "city.json").exists()  # nothing presented as a finished city
