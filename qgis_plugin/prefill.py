"""Pre-fill an algorithm's layer parameters from the layers the analyst is working with."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)

_POINT_PARAMS = ("source", "vector")  # QgsProcessingParameterFeatureSource / VectorLayer types
_RASTER_PARAMS = ("raster",)


def _fits(param: Any, layer: QgsMapLayer) -> bool:
    if param.type() in _RASTER_PARAMS:
        return isinstance(layer, QgsRasterLayer)
    if param.type() in _POINT_PARAMS and isinstance(layer, QgsVectorLayer):
        return layer.geometryType() == QgsWkbTypes.PointGeometry
    return False


def layer_defaults(algorithm: QgsProcessingAlgorithm, layers: list[QgsMapLayer]) -> dict:
    """{parameter name: layer id} for the first required layer parameters each layer fits.

    `layers` come in preference order (the active layer first, then the project's); each layer
    fills at most one parameter, and optional parameters are left for the analyst.
    """
    values: dict[str, str] = {}
    used: set[str] = set()
    for param in algorithm.parameterDefinitions():
        if param.flags() & param.FlagOptional:
            continue
        for layer in layers:
            if layer is not None and layer.id() not in used and _fits(param, layer):
                values[param.name()] = layer.id()
                used.add(layer.id())
                break
    return values
