"""`geocontrast:validate_layer`: any point layer of photos -> a validated street-view GeoPackage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterVectorDestination,
    QgsWkbTypes,
)

from .engine_algorithm import EngineAlgorithm

FIELD_OPTIONS = (  # (parameter, engine flag, label, help, field type)
    ("IMAGE_FIELD", "--image-field", "Photo path field",
     "Text field with each photo's path (absolute or relative to the layer's folder). "
     "Empty: 'image', or QGIS Import-geotagged-photos' 'photo'.",
     QgsProcessingParameterField.String),
    ("TIME_FIELD", "--time-field", "Capture time field",
     "ISO 8601 text or a date-time field. Empty: 'captured_at' or 'timestamp'. "
     "Missing times stay missing (temporal pretraining then says it needs them).",
     QgsProcessingParameterField.Any),
    ("HEADING_FIELD", "--heading-field", "Camera heading field",
     "Degrees from north. Empty: 'heading' or 'direction'.",
     QgsProcessingParameterField.Numeric),
)


def source_directory(algorithm: Any, parameters: dict[str, Any], name: str,
                     context: QgsProcessingContext) -> str:
    """The folder of the file behind a layer parameter ("" for memory/database layers)."""
    layer = algorithm.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        return ""
    path = Path(layer.source().split("|")[0])
    return str(path.parent) if path.is_file() else ""


class ValidateLayerAlgorithm(EngineAlgorithm):
    """Runs `python -m engine import-photos --input L --out OUT.gpkg [--*-field F]`."""

    COMMAND = "import-photos"
    NAME = "validate_layer"
    DISPLAY_NAME = "Validate street-view layer"
    GROUP, GROUP_ID = "Data", "data"
    HELP = (
        "Checks a point layer of geotagged photos (any CRS; e.g. the output of QGIS's "
        "'Import geotagged photos') and writes a normalised street-view GeoPackage with the "
        "fields image (absolute path), captured_at (ISO 8601 UTC), heading (degrees from "
        "north) and location_id. Every problem names the feature ids and the field, so you "
        "can fix them in the attribute table."
    )

    INPUT, PHOTO_DIR, OUTPUT = "INPUT", "PHOTO_DIR", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        source = QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Street-view point layer"), [QgsProcessing.TypeVectorPoint]
        )
        source.setHelp(self.tr("One point per photo"))
        self.addParameter(source)
        for name, _flag, label, help_text, field_type in FIELD_OPTIONS:
            param = QgsProcessingParameterField(
                name, self.tr(label), parentLayerParameterName=self.INPUT, type=field_type,
                optional=True,
            )
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        photo_dir = QgsProcessingParameterFile(
            self.PHOTO_DIR, self.tr("Folder that relative photo paths start from"),
            behavior=QgsProcessingParameterFile.Folder, optional=True,
        )
        photo_dir.setHelp(self.tr("Empty: the folder of the layer's file"))
        self.addParameter(photo_dir)
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Validated street-view layer"),
            type=QgsProcessing.TypeVectorPoint,
        ))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            return "Choose a point layer of photos."
        if QgsWkbTypes.geometryType(source.wkbType()) != QgsWkbTypes.PointGeometry:
            return f"Layer {source.sourceName()} is not a point layer; one point per photo."
        if not source.sourceCrs().isValid():
            return f"Layer {source.sourceName()} has no CRS; set it in the layer properties."
        if source.featureCount() == 0:
            return f"Layer {source.sourceName()} has no features."
        names = source.fields().names()
        if not self.parameterAsString(parameters, "IMAGE_FIELD", context) and not (
            {"image", "photo"} & set(names)
        ):
            return (f"Layer {source.sourceName()} has no 'image' or 'photo' field; choose the "
                    f"field with the photo paths (fields: {', '.join(names)}).")
        return ""

    def input_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                   feedback: QgsProcessingFeedback) -> list[str]:
        """--input/--layer (exported to a temporary GeoPackage only when it must be)."""
        path, layer_name = self.parameterAsCompatibleSourceLayerPathAndLayerName(
            parameters, self.INPUT, context, ["gpkg", "shp", "geojson"], "gpkg", feedback
        )
        args = ["--input", path]
        if layer_name:
            args += ["--layer", layer_name]
        base = self.parameterAsString(parameters, self.PHOTO_DIR, context) or source_directory(
            self, parameters, self.INPUT, context
        )
        if base:
            args += ["--base-dir", base]
        return args

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        args = self.input_args(parameters, context, feedback)
        for name, flag, *_ in FIELD_OPTIONS:
            value = self.parameterAsString(parameters, name, context)
            if value:
                args += [flag, value]
        # Called once: each call on a temporary output makes a new file name.
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return [*args, "--out", self._out]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        return {self.OUTPUT: self._out, "ENGINE": result}
