"""What a layer is to GeoContrast, read from the tag the engine writes (GEOCONTRAST_KIND).

Embedding fields carry the GDAL dataset tag `GEOCONTRAST_KIND=embedding_field` (their PCA
previews `embedding_preview`); point-embedding GeoPackage layers carry the GDAL layer tag
`GEOCONTRAST_KIND=embeddings` (engine/export/geotiff.py KIND_TAG). Anything else is "".
"""

from __future__ import annotations

from qgis.core import QgsMapLayer, QgsRasterLayer, QgsVectorLayer

KIND_TAG = "GEOCONTRAST_KIND"
EMBEDDING_FIELD, PREVIEW, EMBEDDINGS = "embedding_field", "embedding_preview", "embeddings"
PARAM_KIND = "geocontrast_kind"  # parameter metadata key: the kind of layer it takes


def _file_and_layer(source: str) -> tuple[str, str]:
    parts = source.split("|")
    name = next((p.split("=", 1)[1] for p in parts[1:] if p.startswith("layername=")), "")
    return parts[0], name


def layer_kind(layer: QgsMapLayer | None) -> str:
    """The layer's GEOCONTRAST_KIND tag ("" when untagged or not a GDAL/OGR file)."""
    try:
        from osgeo import gdal, ogr
    except ImportError:  # QGIS always ships GDAL's Python bindings; be safe anyway
        return ""
    if isinstance(layer, QgsRasterLayer) and layer.providerType() == "gdal":
        ds = gdal.Open(layer.source())
        return (ds.GetMetadataItem(KIND_TAG) or "") if ds is not None else ""
    if isinstance(layer, QgsVectorLayer) and layer.providerType() == "ogr":
        path, name = _file_and_layer(layer.source())
        ds = ogr.Open(path)
        if ds is None:
            return ""
        lyr = ds.GetLayerByName(name) if name else ds.GetLayer(0)
        return (lyr.GetMetadataItem(KIND_TAG) or "") if lyr is not None else ""
    return ""


def set_param_kind(param: object, kind: str) -> object:
    """Mark a layer parameter as taking layers of `kind` (pre-fill and checks read it)."""
    meta = dict(param.metadata() or {})
    meta[PARAM_KIND] = kind
    param.setMetadata(meta)
    return param


def param_kind(param: object) -> str:
    """The kind a layer parameter takes ("" = an ordinary layer, never a GeoContrast one)."""
    return str((param.metadata() or {}).get(PARAM_KIND, ""))


def kind_problem(label: str, layer: QgsMapLayer | None, wanted: str) -> str:
    """"" when `layer` may fill a parameter that takes `wanted`, else the problem."""
    if layer is None:
        return ""
    kind = layer_kind(layer)
    if wanted == EMBEDDING_FIELD and kind == PREVIEW:
        return (f"'{label}' is {layer.name()}, the 3-band PCA preview of an embedding field; "
                "choose the field itself (the .tif without _pca, from 'Embed overhead "
                "raster').")
    if wanted == EMBEDDING_FIELD and kind and kind != EMBEDDING_FIELD:
        return f"'{label}' is {layer.name()}, a GeoContrast {kind} layer, not an embedding field."
    return ""
