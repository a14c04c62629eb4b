"""Similarity search by click: pick example places on the map (left click: like this,
right click: not like this); the engine maps how alike every embedded photo or raster cell
is to them, and the result loads as a layer.

The map tool only collects points. They are saved as a small GeoPackage in the canvas CRS
(field `positive`, so no coordinate order or CRS is ever guessed) and the work runs as an
EngineTask (`python -m engine map similarity`) in the background: QGIS stays responsive and
the task bar can cancel it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsMapLayerComboBox, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .engine_task import EngineTask

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
COMMAND = "map"


def similarity_args(source: str, is_field: bool, examples_gpkg: str, out_dir: str,
                    name: str = "similarity") -> list[str]:
    """argv for `map similarity` over an embedding field (GeoTIFF) or point embeddings."""
    return ["similarity", "--out", out_dir, "--name", name,
            "--field" if is_field else "--embeddings", source,
            "--examples", examples_gpkg, "--example-field", "positive"]


def write_examples(examples: list[tuple[QgsPointXY, bool]], crs: QgsCoordinateReferenceSystem,
                   path: str) -> str:
    """Save example points (x, y in `crs`; positive 1/0) as a GeoPackage layer; its path."""
    layer = QgsVectorLayer("Point?field=positive:integer", "examples", "memory")
    layer.setCrs(crs)
    features = []
    for point, positive in examples:
        feature = QgsFeature(layer.fields())
        feature.setAttributes([1 if positive else 0])
        feature.setGeometry(QgsGeometry.fromPointXY(point))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "examples"
    error, message, *_ = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, QgsProject.instance().transformContext(), options)
    if error != QgsVectorFileWriter.NoError:
        raise OSError(f"could not write the examples to {path}: {message}")
    return path


class SimilarityDock(QDockWidget):
    """Embeddings layer + example points picked on the canvas + Run."""

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__("GeoContrast similarity", parent)
        self.setObjectName("GeoContrastSimilarityDock")
        self.iface = iface
        self.examples: list[tuple[QgsPointXY, bool]] = []  # canvas CRS, positive?
        self.examples_crs = QgsCoordinateReferenceSystem()
        self.task: EngineTask | None = None
        self.last_output = ""
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(QLabel("Embeddings (points from 'Embed points', or an embedding field)"))
        self.layer_box = QgsMapLayerComboBox(body)
        self.layer_box.setFilters(QgsMapLayerProxyModel.PointLayer
                                  | QgsMapLayerProxyModel.RasterLayer)
        layout.addWidget(self.layer_box)
        self.pick_button = QPushButton("Pick examples (left: like, right: unlike)", body)
        self.pick_button.setCheckable(True)
        self.pick_button.toggled.connect(self._toggle_tool)
        layout.addWidget(self.pick_button)
        self.example_list = QListWidget(body)
        layout.addWidget(self.example_list)
        self.clear_button = QPushButton("Clear examples", body)
        self.clear_button.clicked.connect(self.clear_examples)
        layout.addWidget(self.clear_button)
        self.run_button = QPushButton("Map similarity", body)
        self.run_button.clicked.connect(self.run)
        layout.addWidget(self.run_button)
        self.status = QLabel("", body)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.setWidget(body)
        self.tool = QgsMapToolEmitPoint(iface.mapCanvas())
        self.tool.canvasClicked.connect(self.add_example)

    def _toggle_tool(self, on: bool) -> None:
        canvas = self.iface.mapCanvas()
        if on:
            canvas.setMapTool(self.tool)
        elif canvas.mapTool() is self.tool:
            canvas.unsetMapTool(self.tool)

    def _canvas_crs(self) -> QgsCoordinateReferenceSystem:
        crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        return crs if crs.isValid() else QgsProject.instance().crs()

    def add_example(self, point: QgsPointXY, button: Any = Qt.LeftButton) -> tuple[float, float]:
        """Keep a clicked canvas point (right button: a counter-example); returns its lon, lat."""
        crs = self._canvas_crs()
        if self.examples and crs != self.examples_crs:  # the canvas CRS changed: convert
            move = QgsCoordinateTransform(self.examples_crs, crs, QgsProject.instance())
            self.examples = [(move.transform(p), pos) for p, pos in self.examples]
        self.examples_crs = crs
        positive = button != Qt.RightButton
        self.examples.append((QgsPointXY(point), positive))
        lonlat = QgsCoordinateTransform(crs, WGS84, QgsProject.instance()).transform(point)
        self.example_list.addItem(
            f"{'like' if positive else 'unlike'}: lon {lonlat.x():.6f}, lat {lonlat.y():.6f}")
        return lonlat.x(), lonlat.y()

    def clear_examples(self) -> None:
        self.examples = []
        self.example_list.clear()

    def run(self) -> EngineTask | None:
        """Start the engine in a QgsTask; the result layer loads when it finishes."""
        layer = self.layer_box.currentLayer()
        if layer is None:
            self.status.setText("Choose an embeddings layer first.")
            return None
        if not any(positive for _, positive in self.examples):
            self.status.setText("Pick at least one example place on the map (left click).")
            return None
        out_dir = tempfile.mkdtemp(prefix="geocontrast-similarity-")
        examples = write_examples(self.examples, self.examples_crs,
                                  str(Path(out_dir) / "examples.gpkg"))
        is_field = isinstance(layer, QgsRasterLayer)
        self.task = EngineTask("GeoContrast similarity map", COMMAND,
                               similarity_args(layer.source().split("|")[0], is_field,
                                               examples, out_dir),
                               on_done=self._done)
        self.status.setText("Running…")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _done(self, outputs: dict[str, Any] | None, error: Exception | None) -> None:
        if error is not None or outputs is None:
            self.status.setText(f"Failed: {error}")
            return
        if outputs.get("geotiff"):
            path = str(outputs["geotiff"])
            layer = QgsRasterLayer(path, "Similarity")
        else:
            path = f"{outputs.get('gpkg')}|layername={outputs.get('points_layer', '')}"
            layer = QgsVectorLayer(path, "Similarity", "ogr")
        if layer.isValid():
            QgsProject.instance().addMapLayer(layer)
            self.status.setText(f"Done: {path}")
        else:
            self.status.setText(f"The engine wrote {path}, but QGIS cannot open it.")

    def closeEvent(self, event: Any) -> None:
        self.pick_button.setChecked(False)
        super().closeEvent(event)
