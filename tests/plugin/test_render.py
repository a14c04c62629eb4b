"""Render the sample city as QGIS draws it (offscreen) to a PNG; the README shows it.

GEOCONTRAST_UPDATE_DOCS=1 also writes docs/sample_city_qgis.png (otherwise only tmp_path).
"""

from __future__ import annotations

import os
import shutil

from conftest import REPO
from qgis.core import (
    QgsMarkerSymbol,
    QgsPointXY,
    QgsRasterLayer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from qgis_plugin.render import render_layers

MARKER = QColor(230, 20, 120)


def test_render_sample_city(small_city, tmp_path, clean_project):
    overheads = sorted((small_city / "overhead").glob("overhead_*.tif"))
    overhead = QgsRasterLayer(str(overheads[-1]), "overhead")
    tracts = QgsVectorLayer(f"{small_city / 'tracts.gpkg'}|layername=tracts", "tracts", "ogr")
    photos = QgsVectorLayer(f"{small_city / 'streetview.gpkg'}|layername=streetview", "sv",
                            "ogr")
    assert overhead.isValid() and tracts.isValid() and photos.isValid()
    tracts.renderer().symbol().setColor(QColor(0, 0, 0, 0))  # outlines only
    tracts.renderer().symbol().symbolLayer(0).setStrokeColor(QColor(255, 255, 0))
    marker = QgsMarkerSymbol.createSimple({"name": "circle", "size": "2.5",
                                           "color": MARKER.name(), "outline_style": "no"})
    photos.setRenderer(QgsSingleSymbolRenderer(marker))
    for layer in (overhead, tracts, photos):
        clean_project.addMapLayer(layer)

    path = tmp_path / "sample_city_qgis.png"
    image, settings = render_layers([photos, tracts, overhead], path, 640, 640,
                                    extent=overhead.extent())

    assert path.is_file() and image.width() == 640 and image.height() == 640
    colors = {image.pixelColor(x, y).rgb() for x in range(0, 640, 7) for y in range(0, 640, 7)}
    assert len(colors) > 100  # aerial imagery, not a blank canvas
    point = next(photos.getFeatures()).geometry().asPoint()
    px = settings.mapToPixel().transform(QgsPointXY(point))
    assert image.pixelColor(round(px.x()), round(px.y())).rgb() == MARKER.rgb()
    if os.environ.get("GEOCONTRAST_UPDATE_DOCS") == "1":
        shutil.copyfile(path, REPO / "docs" / "sample_city_qgis.png")
