"""The similarity dock: clicks become example points (saved as a GeoPackage in the canvas
CRS); Run starts an EngineTask (`map similarity`) and loads the engine's output layer
(a stand-in engine answers here; the real one needs a trained model and embeddings)."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, Qt

from qgis_plugin.settings import ENV_VAR
from qgis_plugin.similarity_dock import SimilarityDock, similarity_args, write_examples


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
    options.layerName = "emb"
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


def test_similarity_args():
    assert similarity_args("/f.tif", True, "/ex.gpkg", "/out") == [
        "similarity", "--out", "/out", "--name", "similarity", "--field", "/f.tif",
        "--examples", "/ex.gpkg", "--example-field", "positive"]
    assert similarity_args("/e.gpkg", False, "/ex.gpkg", "/out")[5:7] == ["--embeddings",
                                                                          "/e.gpkg"]


def test_clicks_become_examples(dock, qgis_canvas, tmp_path):
    dock.pick_button.setChecked(True)
    assert qgis_canvas.mapTool() is dock.tool
    dock.tool.canvasClicked.emit(QgsPointXY(500000, 4400000), Qt.LeftButton)
    lon, lat = dock.add_example(QgsPointXY(500100, 4400000), Qt.RightButton)
    assert lon == pytest.approx(-80.9988, abs=1e-3) and 39.5 < lat < 40.0
    assert [positive for _, positive in dock.examples] == [True, False]
    assert dock.example_list.item(0).text().startswith("like: lon -81.000000, lat 39.")
    assert dock.example_list.item(1).text().startswith("unlike: ")

    path = write_examples(dock.examples, dock.examples_crs, str(tmp_path / "ex.gpkg"))
    saved = QgsVectorLayer(path, "ex", "ogr")
    assert saved.isValid() and saved.crs().authid() == "EPSG:32617"
    rows = sorted((f["positive"], f.geometry().asPoint().x()) for f in saved.getFeatures())
    assert rows == [(0, 500100.0), (1, 500000.0)]

    dock.pick_button.setChecked(False)
    assert qgis_canvas.mapTool() is not dock.tool
    dock.clear_examples()
    assert dock.examples == [] and dock.example_list.count() == 0


def test_run_needs_layer_and_examples(dock, points_layer):
    dock.layer_box.setLayer(None)
    assert dock.run() is None and "embeddings layer" in dock.status.text()
    dock.layer_box.setLayer(points_layer)
    dock.add_example(QgsPointXY(500000, 4400000), Qt.RightButton)  # only a counter-example
    assert dock.run() is None and "at least one example" in dock.status.text()


def test_run_starts_task_and_loads_result(dock, points_layer, tmp_path, monkeypatch):
    fake = tmp_path / "fake-python"
    result = {"event": "result", "outputs": {"gpkg": points_layer.source().split("|")[0],
                                             "points_layer": "emb"}}
    fake.write_text("#!/bin/sh\necho '" + json.dumps(result) + "'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ENV_VAR, str(fake))
    QgsProject.instance().setPresetHomePath(str(tmp_path))  # the project's folder
    dock.layer_box.setLayer(points_layer)
    dock.add_example(QgsPointXY(500000, 4400000))
    dock.add_example(QgsPointXY(500010, 4400000), Qt.RightButton)
    drawn = dock.examples_layer  # the picks are on the map as they are made
    assert drawn is not None and drawn.featureCount() == 2
    assert drawn.renderer().type() == "categorizedSymbol"
    assert sorted(c.label() for c in drawn.renderer().categories()) == ["like", "unlike"]
    task = dock.run()
    assert task is not None and task.command == "map" and task.args[0] == "similarity"
    examples = task.args[task.args.index("--examples") + 1]
    assert QgsVectorLayer(examples, "ex", "ogr").featureCount() == 2
    out = Path(task.args[task.args.index("--out") + 1])
    assert out.parent == tmp_path / "geocontrast" / "similarity" and Path(examples).parent == out
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not dock.status.text().startswith(("Done", "Failed")):
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert dock.status.text().startswith("Done"), dock.status.text()
    names = [layer.name() for layer in QgsProject.instance().mapLayers().values()]
    assert "Similarity" in names
    assert task.outputs == result["outputs"] and task.error is None
    QgsProject.instance().setPresetHomePath("")
