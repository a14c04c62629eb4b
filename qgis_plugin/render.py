"""Render layers to a PNG without a window (QgsMapSettings + QgsMapRendererParallelJob).

Used for the README's figures and by tests that check what a user would see.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsMapLayer,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRectangle,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage


def render_layers(layers: list[QgsMapLayer], path: str | Path, width: int = 800,
                  height: int = 600, crs: QgsCoordinateReferenceSystem | None = None,
                  extent: QgsRectangle | None = None) -> tuple[QImage, QgsMapSettings]:
    """Draw `layers` (first = on top) into a width x height PNG at `path`.

    Returns the image and the map settings (their mapToPixel() places map points on it).
    The CRS defaults to the first layer's; the extent to the union of the layers' extents
    (in that CRS), with a 2 % margin.
    """
    if not layers:
        raise ValueError("render_layers needs at least one layer")
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs or layers[0].crs())
    settings.setOutputSize(QSize(width, height))
    settings.setBackgroundColor(QColor(255, 255, 255))
    if extent is None:
        extent = QgsRectangle()
        extent.setMinimal()
        for layer in layers:
            extent.combineExtentWith(settings.layerExtentToOutputExtent(layer, layer.extent()))
        extent.scale(1.02)
        if extent.width() == 0 or extent.height() == 0:  # a single point or a straight line
            extent.grow(max(extent.width(), extent.height(), 1.0) * 0.1)
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return image, settings
