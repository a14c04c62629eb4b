"""Screenshots of the real QGIS desktop with the plugin (run by `make screenshots` under Xvfb).

QGIS runs this file with `--code` once its window is up, in a fresh profile into which the
Makefile unpacked dist/geocontrast.zip. The environment gives GC_SHOTS (where the PNGs go),
GC_WORK (a scratch folder) and GC_ENGINE (the engine interpreter, stored in the Engine
settings as a user would). It starts the plugin, runs sample city -> tiny pretrain -> embed ->
fit -> zero-shot map through processing.runAndLoadResults (the dialogs' path), picks
like/unlike examples in the similarity dock, then grabs: the window (toolbar, styled map,
examples, layer groups), the toolbar, the zero-shot dialog pre-filled, and the set-up dialog.
Then it quits QGIS. A failure is written to GC_SHOTS/error.txt.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsSettings
from qgis.PyQt.QtCore import QCoreApplication, QRect, Qt, QTimer
from qgis.utils import iface

SHOTS = Path(os.environ["GC_SHOTS"])
WORK = Path(os.environ["GC_WORK"])
ENGINE = os.environ["GC_ENGINE"]
TINY = " ".join(
    [f"model.{enc}.backbone_kw.{k}={v}" for enc in ("image", "overhead")
     for k, v in (("width", 8), ("depth", 2), ("out_dim", 16))]
    + ["model.image.hidden_dim=32", "model.overhead.hidden_dim=32", "model.embedding_dim=16",
       "data.image_size=32", "data.chip_size=32", "train.batch_size=16",
       "train.checkpoint_every=0"])


def settle(ms: int = 1500) -> None:
    """Let Qt lay out and the canvas render."""
    deadline = QCoreApplication.instance()
    timer_done = []
    QTimer.singleShot(ms, lambda: timer_done.append(1))
    while not timer_done:
        deadline.processEvents()
    iface.mapCanvas().waitWhileRendering()


def grab(widget, name: str) -> None:
    settle()
    widget.grab().save(str(SHOTS / name))


def run() -> None:
    import processing
    import qgis.utils

    QgsSettings().setValue("geocontrast/engine_python", ENGINE)
    qgis.utils.loadPlugin("geocontrast")
    qgis.utils.startPlugin("geocontrast")
    plugin = qgis.utils.plugins["geocontrast"]
    window = iface.mainWindow()
    window.resize(1500, 950)
    window.showMaximized()

    city = WORK / "city"
    processing.runAndLoadResults("geocontrast:sample_city", {"OUTPUT": str(city)})
    photos = f"{city / 'streetview.gpkg'}|layername=streetview"
    tracts = f"{city / 'tracts.gpkg'}|layername=tracts"
    overhead = sorted(str(p) for p in (city / "overhead").glob("*.tif"))
    model = WORK / "model"
    processing.run("geocontrast:pretrain", {
        "RECIPE": 0, "STREETVIEW": photos, "OVERHEAD": overhead, "STEPS": 30, "DEVICE": 1,
        "OVERRIDES": TINY, "OUTPUT": str(model)})
    emb = processing.run("geocontrast:embed_points", {
        "MODEL": str(model), "INPUT": photos, "DEVICE": 1,
        "OUTPUT": str(WORK / "photos.gpkg")})["OUTPUT"]
    field = processing.run("geocontrast:embed_raster", {
        "MODEL": str(model), "INPUT": overhead[-1], "STRIDE": 8, "DEVICE": 1,
        "OUTPUT": str(WORK / "field.tif")})["OUTPUT"]
    head = processing.run("geocontrast:fit_head", {
        "EMBEDDINGS": emb, "POLYGONS": tracts, "TARGET": "income", "BLOCK_SIZE": 150,
        "FOLDS": 3, "OUTPUT": str(WORK / "income.safetensors")})["OUTPUT"]
    processing.runAndLoadResults("geocontrast:zero_shot_map", {
        "HEAD": head, "FIELD": field, "POLYGONS": tracts, "OUTPUT": str(WORK / "maps")})
    project = QgsProject.instance()
    # a map of the zero-shot raster under the tract outlines: hide the per-tract fill
    for layer in project.mapLayers().values():
        if layer.source().endswith("_polygons") or "/overhead/" in layer.source():
            project.layerTreeRoot().findLayer(layer.id()).setItemVisibilityChecked(False)
    iface.layerTreeView().collapseAllNodes()
    zero = next(lyr for lyr in project.mapLayers().values()
                if isinstance(lyr, QgsRasterLayer) and lyr.source().endswith("zero_shot.tif"))
    iface.mapCanvas().setDestinationCrs(zero.crs())
    iface.mapCanvas().setExtent(zero.extent())
    iface.mapCanvas().refresh()

    dock = plugin.show_similarity_dock()
    field_layer = QgsRasterLayer(field, "Embedding field")
    project.addMapLayer(field_layer, False)  # offered in the dock, not drawn
    dock.layer_box.setLayer(field_layer)
    extent = zero.extent()
    for fx, fy, like in ((0.3, 0.35, True), (0.62, 0.7, True), (0.8, 0.25, False)):
        from qgis.core import QgsPointXY

        dock.add_example(QgsPointXY(extent.xMinimum() + fx * extent.width(),
                                    extent.yMinimum() + fy * extent.height()),
                         Qt.LeftButton if like else Qt.RightButton)
    iface.setActiveLayer(zero)
    grab(window, "qgis_zero_shot_map.png")
    settle()
    bar = plugin.toolbar
    bar.grab(QRect(0, 0, bar.sizeHint().width(), bar.height())).save(
        str(SHOTS / "qgis_toolbar.png"))

    dialog = processing.createAlgorithmDialog("geocontrast:zero_shot_map", {
        "HEAD": head, "FIELD": field, "POLYGONS": tracts})
    dialog.show()
    grab(dialog, "qgis_zero_shot_dialog.png")
    dialog.close()
    setup = plugin.show_setup()
    grab(setup, "qgis_setup_engine.png")
    setup.close()


def main() -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        run()
    except Exception:
        (SHOTS / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
    QgsProject.instance().removeAllMapLayers()
    QgsProject.instance().setDirty(False)
    QTimer.singleShot(500, QgsApplication.instance().quit)


QTimer.singleShot(2000, main)
