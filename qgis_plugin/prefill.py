"""Pre-fill an algorithm's layer parameters from the layers the analyst is working with.

A parameter marked with a GeoContrast kind (kinds.set_param_kind) takes only layers the
engine tagged with that kind (an embedding field, point embeddings); an unmarked one takes
only untagged layers, so a preview, a map or an embedding field never fills "Overhead
raster" and an image never fills "Embedding field".
"""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)

from .kinds import layer_kind, param_kind

_POINT_PARAMS = ("source", "vector")  # QgsProcessingParameterFeatureSource / VectorLayer types
_RASTER_PARAMS = ("raster",)


def _fits(param: Any, layer: QgsMapLayer, kinds: dict[str, str]) -> bool:
    if param.type() in _RASTER_PARAMS:
        geometry_ok = isinstance(layer, QgsRasterLayer)
    elif param.type() in _POINT_PARAMS and isinstance(layer, QgsVectorLayer):
        geometry_ok = layer.geometryType() == QgsWkbTypes.PointGeometry
    else:
        return False
    if not geometry_ok:
        return False
    if layer.id() not in kinds:
        kinds[layer.id()] = layer_kind(layer)
    return kinds[layer.id()] == param_kind(param)


def layer_defaults(algorithm: QgsProcessingAlgorithm, layers: list[QgsMapLayer]) -> dict:
    """{parameter name: layer id} for the first required layer parameters each layer fits.

    `layers` come in preference order (the active layer first, then the project's); each layer
    fills at most one parameter, and optional parameters are left for the analyst.
    """
    values: dict[str, str] = {}
    used: set[str] = set()
    kinds: dict[str, str] = {}
    for param in algorithm.parameterDefinitions():
        if param.flags() & param.FlagOptional:
            continue
        for layer in layers:
            if layer is not None and layer.id() not in used and _fits(param, layer, kinds):
                values[param.name()] = layer.id()
                used.add(layer.id())
                break
    return values
