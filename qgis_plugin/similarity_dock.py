"""Similarity search by click: pick example places on the map (left click: like this,
right click: not like this); the engine maps how alike every embedded photo or raster cell
is to them, and the result loads as a layer.

The map tool only collects points; they are drawn on the map as they are picked (a
"Similarity examples" layer: green = like, red = unlike). On Run they are saved as a small
GeoPackage in the canvas CRS (field `positive`, so no coordinate order or CRS is ever
guessed) in a run folder under the project's folder (`<project>/geocontrast/similarity/`), or
the user's `~/GeoContrast/similarity/` for an unsaved project, and the work runs as an
EngineTask (`python -m engine map similarity`) in the background: QGIS stays responsive and
the task bar can cancel it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsGeometry,
    QgsMapLayerProxyModel,
    QgsMarkerSymbol,
    QgsPointXY,
    QgsProject,
    QgsRasterLayer,
    QgsRendererCategory,
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
EXAMPLES_LAYER = "Similarity examples"


def output_root() -> Path:
    """<project folder>/geocontrast/similarity for a saved project, else
    ~/GeoContrast/similarity: results stay where the analyst finds them, never in /tmp."""
    home = QgsProject.instance().homePath()
    base = Path(home) / "geocontrast" if home else Path.home() / "GeoContrast"
    return base / "similarity"


def new_run_folder(root: Path | None = None) -> Path:
    """A fresh run folder under `root` (default output_root()), named by the time."""
    root = root or output_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder, k = root / stamp, 2
    while folder.exists():
        folder, k = root / f"{stamp}-{k}", k + 1
    folder.mkdir(parents=True)
    return folder


def examples_renderer() -> QgsCategorizedSymbolRenderer:
    """Like (1): a green star; unlike (0): a red cross."""
    like = QgsMarkerSymbol.createSimple({"name": "star", "color": "#38a169", "size": "5",
                                         "outline_color": "#ffffff", "outline_width": "0.4"})
    unlike = QgsMarkerSymbol.createSimple({"name": "cross_fill", "color": "#e53e3e",
                                           "size": "4.5", "outline_color": "#ffffff",
                                           "outline_width": "0.4"})
    return QgsCategorizedSymbolRenderer("positive", [
        QgsRendererCategory(1, like, "like"), QgsRendererCategory(0, unlike, "unlike")])


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
        self.examples_layer: QgsVectorLayer | None = None
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
        self.draw_examples()
        return lonlat.x(), lonlat.y()

    def draw_examples(self) -> QgsVectorLayer | None:
        """Show the examples on the map (a memory layer on top, like/unlike symbols)."""
        project = QgsProject.instance()
        if self.examples_layer is not None and project.mapLayer(self.examples_layer.id()) \
                is None:
            self.examples_layer = None  # the analyst removed it: make a new one
        if self.examples_layer is None or self.examples_layer.crs() != self.examples_crs:
            if self.examples_layer is not None:
                project.removeMapLayer(self.examples_layer.id())
            layer = QgsVectorLayer("Point?field=positive:integer", EXAMPLES_LAYER, "memory")
            layer.setCrs(self.examples_crs)
            layer.setRenderer(examples_renderer())
            project.addMapLayer(layer, False)
            project.layerTreeRoot().insertLayer(0, layer)
            self.examples_layer = layer
        provider = self.examples_layer.dataProvider()
        provider.truncate()
        features = []
        for point, positive in self.examples:
            feature = QgsFeature(self.examples_layer.fields())
            feature.setAttributes([1 if positive else 0])
            feature.setGeometry(QgsGeometry.fromPointXY(point))
            features.append(feature)
        provider.addFeatures(features)
        self.examples_layer.updateExtents()
        self.examples_layer.triggerRepaint()
        return self.examples_layer

    def clear_examples(self) -> None:
        self.examples = []
        self.example_list.clear()
        if self.examples_layer is not None:
            self.draw_examples()

    def run(self) -> EngineTask | None:
        """Start the engine in a QgsTask; the result layer loads when it finishes."""
        layer = self.layer_box.currentLayer()
        if layer is None:
            self.status.setText("Choose an embeddings layer first.")
            return None
        if isinstance(layer, QgsVectorLayer) and layer.subsetString():
            from .processing.common import filter_problem

            self.status.setText(filter_problem(layer))
            return None
        if not any(positive for _, positive in self.examples):
            self.status.setText("Pick at least one example place on the map (left click).")
            return None
        out_dir = str(new_run_folder())
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
        from .processing.postprocess import apply_style

        if outputs.get("geotiff"):
            path = str(outputs["geotiff"])
            layer = QgsRasterLayer(path, "Similarity")
            style = "map"
        else:
            path = f"{outputs.get('gpkg')}|layername={outputs.get('points_layer', '')}"
            layer = QgsVectorLayer(path, "Similarity", "ogr")
            style = "stored"
        if layer.isValid():
            apply_style(layer, style)
            project = QgsProject.instance()
            project.addMapLayer(layer, False)  # below the examples, above everything else
            root = project.layerTreeRoot()
            below = 1 if self.examples_layer is not None and \
                root.findLayer(self.examples_layer.id()) is not None else 0
            root.insertLayer(below, layer)
            self.last_output = path
            self.status.setText(f"Done: {path}")
        else:
            self.status.setText(f"The engine wrote {path}, but QGIS cannot open it.")

    def closeEvent(self, event: Any) -> None:
        self.pick_button.setChecked(False)
        super().closeEvent(event)
