"""The similarity dock: clicks become lon/lat examples; Run starts an EngineTask and loads
the engine's output layer (a stand-in engine here: the similarity command is not built yet)."""

from __future__ import annotations

import json
import stat
import time

import pytest
from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication

from qgis_plugin.settings import ENV_VAR
from qgis_plugin.similarity_dock import SimilarityDock, similarity_args


@pytest.fixture()
def points_layer(tmp_path, clean_project):
    mem = QgsVectorLayer("Point?crs=EPSG:32617&field=photo_id:integer", "emb", "memory")
    feature = QgsFeature(mem.fields())
    feature.setAttributes([1])
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(500000, 4400000)))
    mem.dataProvider().addFeatures([feature])
    path = str(tmp_path / "emb.gpkg")
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    QgsVectorFileWriter.writeAsVectorFormatV3(mem, path, clean_project.transformContext(),
                                              options)
    layer = QgsVectorLayer(path, "embeddings", "ogr")
    assert layer.isValid()
    clean_project.addMapLayer(layer)
    return layer


@pytest.fixture()
def dock(qgis_iface, qgis_canvas):
    qgis_canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:32617"))
    widget = SimilarityDock(qgis_iface)
    yield widget
    widget.close()
    widget.deleteLater()


def test_similarity_args_name_lon_lat():
    args = similarity_args("/e.gpkg", [(-81.0, 39.7), (-80.5, 40.0)], "/o.gpkg", 10)
    assert args == ["--embeddings", "/e.gpkg", "--out", "/o.gpkg", "--top-k", "10",
                    "--example", "-81.00000000,39.70000000",
                    "--example", "-80.50000000,40.00000000"]


def test_clicks_become_lonlat_examples(dock, qgis_canvas):
    dock.pick_button.setChecked(True)
    assert qgis_canvas.mapTool() is dock.tool
    dock.tool.canvasClicked.emit(QgsPointXY(500000, 4400000), 1)  # UTM 17N central meridian
    lon, lat = dock.examples_lonlat[0]
    assert lon == pytest.approx(-81.0, abs=1e-9) and 39.5 < lat < 40.0
    assert dock.example_list.count() == 1
    dock.pick_button.setChecked(False)
    assert qgis_canvas.mapTool() is not dock.tool
    dock.clear_examples()
    assert dock.examples_lonlat == [] and dock.example_list.count() == 0


def test_run_needs_layer_and_examples(dock, clean_project):
    assert dock.run() is None and "embeddings layer" in dock.status.text()


def test_run_starts_task_and_loads_result(dock, points_layer, tmp_path, monkeypatch):
    fake = tmp_path / "fake-python"
    result = {"event": "result", "outputs": {"output": points_layer.source().split("|")[0]}}
    fake.write_text("#!/bin/sh\necho '" + json.dumps(result) + "'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ENV_VAR, str(fake))
    dock.layer_box.setLayer(points_layer)
    dock.add_example(QgsPointXY(500000, 4400000))
    task = dock.run()
    assert task is not None and "--example" in task.args
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not dock.status.text().startswith(("Done", "Failed")):
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert dock.status.text().startswith("Done"), dock.status.text()
    names = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    assert "Similarity" in names
    assert QgsApplication.taskManager().countActiveTasks() == 0
    assert task.outputs == result["outputs"] and task.error is None
