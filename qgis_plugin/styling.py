"""The styles GeoContrast results carry, built in QGIS: the same look whichever way a layer
is loaded (Processing, the dock, a test).

Map rasters: singleband pseudocolour on band 1 (the prediction / similarity) with a viridis
ramp stretched over robust percentiles (2-98 %), so a few extreme cells cannot take over
the colours. Few-shot rasters: paletted with the class names. Map polygons / cells: the
graduated or categorised style the engine stored in the GeoPackage's layer_styles. Tracts:
outlines only, so what lies beneath stays visible.
"""

from __future__ import annotations

from collections.abc import Sequence

from qgis.core import (
    QgsColorRampShader,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGradientStop,
    QgsPalettedRasterRenderer,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

ROBUST_CUT = (0.02, 0.98)  # cumulative-count cut of the pseudocolour stretch
# matplotlib's viridis at 0, 1/8, ..., 1 (the engine's .qml and PNGs use the same ramp)
VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962",
           "#addc30", "#fde725")
# matplotlib's tab10: the few-shot classes (and the engine's PNG legend) in this order
TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
         "#7f7f7f", "#bcbd22", "#17becf")


def viridis_ramp() -> QgsGradientColorRamp:
    """The viridis colour ramp as a QGIS gradient."""
    n = len(VIRIDIS) - 1
    stops = [QgsGradientStop(i / n, QColor(c)) for i, c in enumerate(VIRIDIS[1:-1], start=1)]
    return QgsGradientColorRamp(QColor(VIRIDIS[0]), QColor(VIRIDIS[-1]), False, stops)


def robust_range(layer: QgsRasterLayer, band: int = 1) -> tuple[float, float]:
    """(low, high) band values at the ROBUST_CUT cumulative-count percentiles."""
    provider = layer.dataProvider()
    lo, hi = provider.cumulativeCut(band, ROBUST_CUT[0], ROBUST_CUT[1], layer.extent(), 250_000)
    if not hi > lo:  # a constant map: a tiny range around the value
        hi = lo + 1e-6
    return float(lo), float(hi)


def style_map_raster(layer: QgsRasterLayer, band: int = 1) -> QgsSingleBandPseudoColorRenderer:
    """Singleband pseudocolour on `band`, viridis over the robust range."""
    lo, hi = robust_range(layer, band)
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), band, None)
    renderer.setClassificationMin(lo)
    renderer.setClassificationMax(hi)
    # clip off: values beyond the 2-98 % stretch take the end colours; clipped, they were
    # drawn transparent, as if no data (a map's top plateau vanished in the screenshot)
    renderer.createShader(viridis_ramp(), QgsColorRampShader.Interpolated,
                          QgsColorRampShader.Continuous, 0, False)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return renderer


def style_class_raster(layer: QgsRasterLayer, classes: Sequence[str],
                       band: int = 1) -> QgsPalettedRasterRenderer:
    """Paletted on `band` (class index 0..n-1) with the class names as labels."""
    palette = [QgsPalettedRasterRenderer.Class(i, QColor(TAB10[i % len(TAB10)]), str(name))
               for i, name in enumerate(classes)]
    renderer = QgsPalettedRasterRenderer(layer.dataProvider(), band, palette)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return renderer


def style_stored(layer: QgsVectorLayer) -> str:
    """Apply the style stored with the layer (GeoPackage layer_styles); its renderer type."""
    layer.loadDefaultStyle()
    layer.triggerRepaint()
    return layer.renderer().type() if layer.renderer() is not None else ""


def style_outline(layer: QgsVectorLayer, color: str = "#1a202c", width_mm: float = 0.5) -> None:
    """Polygons as outlines only (no fill)."""
    symbol = QgsFillSymbol.createSimple({"style": "no", "outline_color": color,
                                         "outline_width": f"{width_mm:g}",
                                         "outline_width_unit": "MM"})
    layer.setRenderer(QgsSingleSymbolRenderer(symbol))
    layer.triggerRepaint()
