"""Parameters and checks shared by the algorithms that use a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)

DEVICES = ("auto", "cpu", "cuda")
MODEL_FILES = ("config.yaml", "model.safetensors")
# the engine's model zoo (`--model zoo:<name>`: a frozen ImageNet network); the plugin keeps
# its own copy (it never imports the engine), checked against `python -m engine defaults`
ZOO_PREFIX = "zoo:"
ZOO_MODELS = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PRETRAINED = "PRETRAINED_MODEL"
NO_PRETRAINED = "(none: use the model folder)"


def add_model_param(alg: Any, name: str = "MODEL", optional: bool = False,
                    zoo: bool = False) -> None:
    """A model folder (models/<name>: config.yaml + model.safetensors); with `zoo`, also a
    "Pretrained model" choice (the engine's zoo), and then exactly one of the two is needed."""
    if zoo:
        pretrained = QgsProcessingParameterEnum(
            PRETRAINED, alg.tr("Pretrained model"), options=[NO_PRETRAINED, *ZOO_MODELS],
            defaultValue=NO_PRETRAINED, usesStaticStrings=True)
        pretrained.setHelp(alg.tr("A frozen ImageNet network, no training needed (it embeds "
                                  "at its native input size, named in the log); or none, to "
                                  "use the trained model in 'Model folder'"))
        alg.addParameter(pretrained)
    param = QgsProcessingParameterFile(name, alg.tr("Model folder"),
                                       behavior=QgsProcessingParameterFile.Folder,
                                       optional=optional or zoo)
    param.setHelp(alg.tr("A trained model: a folder with config.yaml and model.safetensors "
                         "(the output of 'Pretrain encoder')")
                  + (alg.tr("; leave empty when a pretrained model is chosen") if zoo else ""))
    alg.addParameter(param)


def pretrained_choice(alg: Any, parameters: dict[str, Any],
                      context: QgsProcessingContext) -> str:
    """The zoo model chosen ("efficientnet_lite0"), or "" for none (or no such parameter)."""
    if alg.parameterDefinition(PRETRAINED) is None:
        return ""
    value = alg.parameterAsEnumString(parameters, PRETRAINED, context)
    return value if value in ZOO_MODELS else ""


def model_arg(alg: Any, parameters: dict[str, Any], context: QgsProcessingContext,
              name: str = "MODEL") -> str:
    """What `--model` gets: `zoo:<name>` for a pretrained model, else the model folder."""
    zoo = pretrained_choice(alg, parameters, context)
    return ZOO_PREFIX + zoo if zoo else alg.parameterAsFile(parameters, name, context)


def add_device_params(alg: Any, batch_size: bool = True) -> None:
    """Device (auto/cpu/cuda) and batch size, as advanced parameters."""
    device = QgsProcessingParameterEnum("DEVICE", alg.tr("Device"), options=list(DEVICES),
                                        defaultValue=0)
    device.setFlags(device.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    alg.addParameter(device)
    if batch_size:
        batch = QgsProcessingParameterNumber("BATCH_SIZE", alg.tr("Batch size"),
                                             QgsProcessingParameterNumber.Integer,
                                             defaultValue=64, minValue=1)
        batch.setFlags(batch.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        alg.addParameter(batch)


def device_args(alg: Any, parameters: dict[str, Any], context: QgsProcessingContext,
                batch_size: bool = True) -> list[str]:
    args = ["--device", DEVICES[alg.parameterAsEnum(parameters, "DEVICE", context)]]
    if batch_size:
        args += ["--batch-size", str(alg.parameterAsInt(parameters, "BATCH_SIZE", context))]
    return args


def model_problem(alg: Any, parameters: dict[str, Any], context: QgsProcessingContext,
                  name: str = "MODEL") -> str:
    """"" when the model folder holds config.yaml and model.safetensors (or, where a
    pretrained model may be chosen instead, when exactly one of the two is given), else the
    problem."""
    folder = alg.parameterAsFile(parameters, name, context)
    if alg.parameterDefinition(PRETRAINED) is not None:
        zoo = pretrained_choice(alg, parameters, context)
        if zoo and folder:
            return (f"Choose either 'Pretrained model' ({zoo}) or 'Model folder' ({folder}), "
                    "not both; set 'Pretrained model' to (none) to use the folder.")
        if not zoo and not folder:
            return ("Choose a 'Pretrained model' (e.g. efficientnet_lite0, no training "
                    "needed) or a 'Model folder' (the output of 'Pretrain encoder').")
    if not folder:
        return ""
    missing = [f for f in MODEL_FILES if not (Path(folder) / f).is_file()]
    if missing:
        return (f"Model folder {folder} has no {' or '.join(missing)}; choose the output "
                "folder of 'Pretrain encoder' (models/<name>).")
    return ""


def vector_file(alg: Any, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                feedback: QgsProcessingFeedback | None) -> tuple[str, str]:
    """(file path, layer name) the engine can open for a vector parameter; file layers are
    passed as they are (relative photo paths stay valid), others saved to a GeoPackage."""
    path, layer_name = alg.parameterAsCompatibleSourceLayerPathAndLayerName(
        parameters, name, context, ["gpkg", "shp", "geojson"], "gpkg", feedback)
    return path, layer_name or ""


def source_layer(alg: Any, parameters: dict[str, Any], name: str,
                 context: QgsProcessingContext) -> Any:
    """The map layer behind a feature-source parameter, also when it is given as "selected
    features only" (a QgsProcessingFeatureSourceDefinition); None for none."""
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProcessingUtils

    value = parameters.get(name)
    if isinstance(value, QgsProcessingFeatureSourceDefinition):
        value = value.source.valueAsString(context.expressionContext())[0]
        return QgsProcessingUtils.mapLayerFromString(str(value), context)
    return alg.parameterAsVectorLayer(parameters, name, context)


def photo_layer_args(alg: Any, parameters: dict[str, Any], name: str,
                     context: QgsProcessingContext, feedback: QgsProcessingFeedback | None,
                     layer_flag: str) -> list[str]:
    """The engine arguments for a street-view photo layer: its file and layer name as they
    are (relative photo paths stay valid), or, when Processing saved the chosen features to
    a temporary file (a selection, a filter), that file with `--photo-dir` set to the
    original's folder, where the relative photo paths start."""
    path, layer_name = vector_file(alg, parameters, name, context, feedback)
    args = [path] + ([layer_flag, layer_name] if layer_name else [])
    layer = source_layer(alg, parameters, name, context)
    if layer is None or layer.providerType() != "ogr":  # a memory or database layer
        return args
    original = Path(_file_and_layer(layer)[0])
    if original.is_file() and original != Path(path):
        args += ["--photo-dir", str(original.parent)]
    return args


def single_layer_file(alg: Any, parameters: dict[str, Any], name: str,
                      context: QgsProcessingContext,
                      feedback: QgsProcessingFeedback | None) -> str:
    """A file the engine can open without a layer name for a vector parameter (polygons,
    masks, example points: no photo paths to keep valid): the layer's own file when that is
    all it holds (its layer named as the file), else that one layer saved to a GeoPackage
    (a layer of a multi-layer GeoPackage, a selection, a filter, a memory layer)."""
    return alg.parameterAsCompatibleSourceLayerPath(
        parameters, name, context, ["gpkg", "shp", "geojson"], "gpkg", feedback)


def raster_file(alg: Any, parameters: dict[str, Any], name: str,
                context: QgsProcessingContext) -> str:
    """The file behind a raster parameter ("" when none is given)."""
    layer = alg.parameterAsRasterLayer(parameters, name, context)
    return layer.source() if layer is not None else ""


def layer_file(alg: Any, parameters: dict[str, Any], name: str,
               context: QgsProcessingContext) -> tuple[str, str]:
    """(file path, layer name) of the file behind a vector-layer parameter, never a copy:
    embedding GeoPackages carry BLOB vectors and metadata tables an export would drop."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    return ("", "") if layer is None else _file_and_layer(layer)


def _file_and_layer(layer: Any) -> tuple[str, str]:
    """(file path, layer name) of a file layer's source `path|layername=NAME`."""
    parts = layer.source().split("|")
    layer_name = next((p.split("=", 1)[1] for p in parts[1:] if p.startswith("layername=")), "")
    return parts[0], layer_name


EMBEDDING_META_TABLE = "gc_embedding_meta"  # engine.export.embeddings_gpkg.META_TABLE


def embedding_layers(path: str | Path) -> list[str]:
    """The embedding layers of an engine GeoPackage, the one the engine reads by default
    first ([] when it has none or is not a GeoPackage)."""
    import contextlib
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
            rows = con.execute(
                f"SELECT table_name FROM {EMBEDDING_META_TABLE} ORDER BY id").fetchall()
    except sqlite3.Error:
        return []
    return [str(r[0]) for r in rows]


def file_layer_problem(alg: Any, parameters: dict[str, Any], name: str,
                       context: QgsProcessingContext, layer_passed: bool = False) -> str:
    """"" when a vector-layer parameter is a GeoPackage file layer the engine will read,
    else the problem. Without `layer_passed` (no flag carries the layer name to the engine)
    the layer must be the file's first embedding layer, the one the engine reads."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        return ""
    path, layer_name = _file_and_layer(layer)
    if layer.providerType() != "ogr" or not Path(path).is_file():
        return (f"Layer {layer.name()} is not a file; give the GeoPackage written by the "
                "engine (e.g. by 'Embed street-view photos').")
    if layer.subsetString():
        return filter_problem(layer)
    found = embedding_layers(path)
    if not layer_passed and layer_name and found and layer_name != found[0]:
        return (f"Layer '{layer_name}' of {path} is not the embedding layer this algorithm "
                f"reads ('{found[0]}', the file's first); save '{layer_name}' to a "
                f"GeoPackage of its own, or choose the layer '{found[0]}'.")
    return ""


def filter_problem(layer: Any) -> str:
    """The layer has a filter the engine would not see: it reads every feature of the file
    (an export would drop the embeddings' metadata)."""
    return (f"Layer {layer.name()} has a filter ({layer.subsetString()}), but GeoContrast "
            "reads every feature of its file; clear the filter (Layer Properties > Source > "
            "Query Builder). To fit on part of the photos, leave the label of the others "
            "empty.")


MAP_SUFFIXES = (".tif", ".gpkg", ".png", ".qml", "_polygons.png")


def add_map_output_params(alg: Any, polygons: bool = True, raster: bool = True) -> None:
    """Output folder + file-name stem + overwrite, and the layers a map run yields (so the
    modeler can chain them), shared by the map algorithms; `polygons`: a per-polygon layer;
    `raster`: a GeoTIFF and its cells (not for maps at points)."""
    from qgis.core import (
        QgsProcessingOutputRasterLayer,
        QgsProcessingOutputVectorLayer,
        QgsProcessingParameterBoolean,
        QgsProcessingParameterFolderDestination,
        QgsProcessingParameterString,
    )

    name = QgsProcessingParameterString("NAME", alg.tr("Output name"),
                                        defaultValue=alg.DEFAULT_NAME)
    files = "NAME.tif, NAME.gpkg and NAME.png" if raster else "NAME.gpkg and NAME.png"
    name.setHelp(alg.tr(f"Files are {files} in the output folder; when they exist, NAME_2, "
                        "NAME_3, … unless 'Overwrite' is ticked"))
    alg.addParameter(name)
    alg.addParameter(QgsProcessingParameterBoolean(
        "OVERWRITE", alg.tr("Overwrite existing outputs of the same name"), defaultValue=False))
    alg.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", alg.tr("Output folder")))
    if raster:
        alg.addOutput(QgsProcessingOutputRasterLayer("GEOTIFF", alg.tr("Map (GeoTIFF)")))
        alg.addOutput(QgsProcessingOutputVectorLayer("CELLS_LAYER", alg.tr("Map cells")))
    if polygons:
        alg.addOutput(QgsProcessingOutputVectorLayer("POLYGONS_LAYER",
                                                     alg.tr("Map per polygon")))


def free_name(folder: str | Path, name: str) -> str:
    """`name`, or the first of name_2, name_3, … none of whose output files exist in `folder`."""
    folder = Path(folder)

    def taken(stem: str) -> bool:
        return any((folder / f"{stem}{suffix}").exists() for suffix in MAP_SUFFIXES)

    if not taken(name):
        return name
    k = 2
    while taken(f"{name}_{k}"):
        k += 1
    return f"{name}_{k}"


def map_output_args(alg: Any, parameters: dict[str, Any], context: QgsProcessingContext
                    ) -> list[str]:
    """--out FOLDER --name NAME, where NAME never overwrites earlier outputs unless asked."""
    name = alg.parameterAsString(parameters, "NAME", context).strip() or alg.DEFAULT_NAME
    folder = alg.parameterAsString(parameters, "OUTPUT", context)
    if not alg.parameterAsBool(parameters, "OVERWRITE", context):
        name = free_name(folder, name)
    return ["--out", folder, "--name", name]


def map_style(result: dict[str, Any]) -> str:
    """How the map GeoTIFF is styled: paletted classes for few-shot, else pseudocolour."""
    return "classes" if result.get("kind") == "fewshot" else "map"


def load_map_outputs(alg: Any, result: dict[str, Any], context: QgsProcessingContext
                     ) -> dict[str, Any]:
    """Queue the engine's map layers for loading, styled and grouped (points over polygons
    over the raster), and return the algorithm's outputs (layers, folder, RELIABLE). A map
    whose truth-free validity check failed (result "reliable": False) is titled UNRELIABLE,
    in its group's name too."""
    from .postprocess import load_styled

    outputs: dict[str, Any] = {"RELIABLE": result.get("reliable")}
    title = str(result.get("target") or result.get("kind") or "map")
    if result.get("reliable") is False:  # the engine's truth-free validity check failed
        title = f"UNRELIABLE {title}"
    gpkg = str(result.get("gpkg") or "")
    stem = Path(str(result.get("geotiff") or gpkg or title)).stem
    group = f"GeoContrast: {stem}" + (" (UNRELIABLE)" if result.get("reliable") is False else "")
    for rank, (key, suffix) in enumerate((("points_layer", "points"),
                                          ("polygons_layer", "per polygon"))):
        if gpkg and result.get(key):
            uri = f"{gpkg}|layername={result[key]}"
            outputs[key.upper()] = uri
            load_styled(context, uri, f"{title} ({suffix})", key.upper(), "stored", group, rank)
    if result.get("geotiff"):
        outputs["GEOTIFF"] = str(result["geotiff"])
        load_styled(context, outputs["GEOTIFF"], title, "GEOTIFF", map_style(result), group, 5,
                    [str(c) for c in result.get("classes") or []])
    if gpkg and result.get("cells_layer"):
        outputs["CELLS_LAYER"] = f"{gpkg}|layername={result['cells_layer']}"
    outputs["OUTPUT"] = str(Path(str(result.get("geotiff") or gpkg)).parent) \
        if (result.get("geotiff") or gpkg) else ""
    return outputs


def add_preview_output(alg: Any) -> None:
    """The 3-band PCA preview an embedding field comes with, as an output of its own."""
    from qgis.core import QgsProcessingOutputRasterLayer

    alg.addOutput(QgsProcessingOutputRasterLayer(
        "PREVIEW", alg.tr("Embedding field preview (3 principal components as RGB)")))


def field_outputs(alg: Any, field: str, result: dict[str, Any],
                  context: QgsProcessingContext) -> dict[str, Any]:
    """An embedding field's outputs: the field, and its PCA preview loaded above it (a field
    of 64 bands drawn as RGB of bands 1-3 shows little; the preview shows its structure)."""
    from .postprocess import load_styled

    outputs: dict[str, Any] = {"OUTPUT": field}
    preview = str(result.get("preview") or "")
    if preview and Path(preview).is_file():
        outputs["PREVIEW"] = preview
        load_styled(context, preview, f"{Path(field).stem} (preview)", "PREVIEW", "")
    return outputs
