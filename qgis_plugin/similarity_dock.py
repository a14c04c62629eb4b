"""Similarity search by click: pick example places on the map, the engine maps how alike
every embedded photo (or raster cell) is to them, and the result loads as a layer.

The map tool only collects points; the work runs as an EngineTask (`similarity` command)
in the background, so QGIS stays responsive and the task bar can cancel it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.gui import QgsMapLayerComboBox, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .engine_task import EngineTask

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
COMMAND = "similarity"


def similarity_args(embeddings: str, examples_lonlat: list[tuple[float, float]], out: str,
                    top_k: int) -> list[str]:
    """The engine's argv for a similarity map: examples as `lon,lat` pairs (EPSG:4326)."""
    args = ["--embeddings", embeddings, "--out", out, "--top-k", str(top_k)]
    for lon, lat in examples_lonlat:
        args += ["--example", f"{lon:.8f},{lat:.8f}"]
    return args


class SimilarityDock(QDockWidget):
    """Embeddings layer + example points picked on the canvas + Run."""

    def __init__(self, iface: Any, parent: QWidget | None = None) -> None:
        super().__init__("GeoContrast similarity", parent)
        self.setObjectName("GeoContrastSimilarityDock")
        self.iface = iface
        self.examples_lonlat: list[tuple[float, float]] = []
        self.task: EngineTask | None = None
        self.last_output = ""
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.addWidget(QLabel("Embeddings (points from 'Embed points', or an embedding field)"))
        self.layer_box = QgsMapLayerComboBox(body)
        self.layer_box.setFilters(QgsMapLayerProxyModel.PointLayer
                                  | QgsMapLayerProxyModel.RasterLayer)
        layout.addWidget(self.layer_box)
        self.pick_button = QPushButton("Pick examples on the map", body)
        self.pick_button.setCheckable(True)
        self.pick_button.toggled.connect(self._toggle_tool)
        layout.addWidget(self.pick_button)
        self.example_list = QListWidget(body)
        layout.addWidget(self.example_list)
        self.top_k = QSpinBox(body)
        self.top_k.setRange(1, 10000)
        self.top_k.setValue(50)
        self.top_k.setPrefix("highlight top ")
        layout.addWidget(self.top_k)
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

    def add_example(self, point: QgsPointXY, button: Any = Qt.LeftButton) -> tuple[float, float]:
        """Store a clicked canvas point as lon, lat (EPSG:4326) and list it."""
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        if not canvas_crs.isValid():
            canvas_crs = QgsProject.instance().crs()
        to_wgs84 = QgsCoordinateTransform(canvas_crs, WGS84, QgsProject.instance())
        lonlat = to_wgs84.transform(point)
        example = (lonlat.x(), lonlat.y())
        self.examples_lonlat.append(example)
        self.example_list.addItem(f"lon {example[0]:.6f}, lat {example[1]:.6f}")
        return example

    def clear_examples(self) -> None:
        self.examples_lonlat = []
        self.example_list.clear()

    def run(self) -> EngineTask | None:
        """Start the engine in a QgsTask; the result layer loads when it finishes."""
        layer = self.layer_box.currentLayer()
        if layer is None:
            self.status.setText("Choose an embeddings layer first.")
            return None
        if not self.examples_lonlat:
            self.status.setText("Pick at least one example place on the map.")
            return None
        source = layer.source().split("|")[0]
        suffix = ".tif" if isinstance(layer, QgsRasterLayer) else ".gpkg"
        out = str(Path(tempfile.mkdtemp(prefix="geocontrast-sim-")) / f"similarity{suffix}")
        self.task = EngineTask("GeoContrast similarity map", COMMAND,
                               similarity_args(source, self.examples_lonlat, out,
                                               self.top_k.value()),
                               on_done=self._done)
        self.last_output = out
        self.status.setText("Running…")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def _done(self, outputs: dict[str, Any] | None, error: Exception | None) -> None:
        if error is not None or outputs is None:
            self.status.setText(f"Failed: {error}")
            return
        path = str(outputs.get("output") or self.last_output)
        layer = (QgsRasterLayer(path, "Similarity") if path.endswith(".tif")
                 else QgsVectorLayer(path, "Similarity", "ogr"))
        if layer.isValid():
            QgsProject.instance().addMapLayer(layer)
            self.status.setText(f"Done: {path}")
        else:
            self.status.setText(f"The engine wrote {path}, but QGIS cannot open it.")

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self.pick_button.setChecked(False)
        super().closeEvent(event)
