"""Style and place the layers Processing loads for a GeoContrast algorithm.

Processing loads an output without its sidecar style (a multiband GeoTIFF shows as RGB, a
GeoPackage layer as a single symbol), so each output carries a
QgsProcessingLayerPostProcessorInterface: it applies the GeoContrast style
(qgis_plugin/styling.py) and moves the layer into the run's group at its rank (rank 0 on
top), so points lie above polygons above rasters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qgis.core import (
    QgsLayerTreeGroup,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingLayerPostProcessorInterface,
    QgsProject,
)

from .. import styling

RANK_PROPERTY = "geocontrast/rank"
# sip does not keep a Python post-processor alive on its own: hold them for the session
_ALIVE: list[LayerPostProcessor] = []
_MAX_ALIVE = 200


class LayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """`style`: "map" (pseudocolour band 1), "classes" (paletted, needs `classes`),
    "stored" (the GeoPackage's own style), "outline" (no fill) or "" (QGIS's default)."""

    def __init__(self, style: str, group: str = "", rank: int = 0,
                 classes: Sequence[str] = ()) -> None:
        super().__init__()
        self.style, self.group, self.rank, self.classes = style, group, rank, list(classes)

    def postProcessLayer(self, layer: QgsMapLayer, context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> None:
        try:
            apply_style(layer, self.style, self.classes)
        except Exception as exc:
            if feedback is not None:
                feedback.pushWarning(f"GeoContrast: could not style {layer.name()}: {exc}")
        if self.group:
            place_in_group(context.project() or QgsProject.instance(), layer, self.group,
                           self.rank)


def apply_style(layer: QgsMapLayer, style: str, classes: Sequence[str] = ()) -> None:
    """Apply one of the styles named in LayerPostProcessor to `layer`."""
    if style == "map":
        styling.style_map_raster(layer)
    elif style == "classes":
        styling.style_class_raster(layer, classes)
    elif style == "stored":
        styling.style_stored(layer)
    elif style == "outline":
        styling.style_outline(layer)


def place_in_group(project: QgsProject, layer: QgsMapLayer, group_name: str, rank: int) -> None:
    """Move the layer's tree node into the top-level group `group_name` (created on top of the
    tree when missing), above the group's layers of higher rank."""
    root = project.layerTreeRoot()
    node = root.findLayer(layer.id())
    if node is None:
        return
    group = root.findGroup(group_name)
    if group is None:
        group = root.insertGroup(0, group_name)
    position = 0
    for child in group.children():
        if isinstance(child, QgsLayerTreeGroup) or \
                int(child.customProperty(RANK_PROPERTY, 0)) > rank:
            break
        position += 1
    clone = node.clone()
    clone.setCustomProperty(RANK_PROPERTY, rank)
    group.insertChildNode(position, clone)
    parent = node.parent()
    if parent is not None:
        parent.removeChildNode(node)


def load_styled(context: QgsProcessingContext, uri: str, name: str, output_name: str,
                style: str, group: str = "", rank: int = 0,
                classes: Sequence[str] = ()) -> Any:
    """Queue `uri` for loading on completion with its GeoContrast style and group."""
    details = QgsProcessingContext.LayerDetails(name, context.project(), output_name)
    post = LayerPostProcessor(style, group, rank, classes)
    _ALIVE.append(post)
    del _ALIVE[:-_MAX_ALIVE]
    details.setPostProcessor(post)
    context.addLayerToLoadOnCompletion(uri, details)
    return post
