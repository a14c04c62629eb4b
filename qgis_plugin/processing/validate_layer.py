"""`geocontrast:validate_layer`: any point layer of photos -> a validated street-view GeoPackage."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterVectorDestination,
    QgsWkbTypes,
)

from .common import photo_layer_args
from .engine_algorithm import EngineAlgorithm

IMAGE_FIELDS = {"image", "photo", "image_path", "path", "filepath"}  # engine's auto-detected


class ValidateLayerAlgorithm(EngineAlgorithm):
    """Runs `python -m engine import-photos --input L --out OUT.gpkg [--image-field F]`."""

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

    INPUT, IMAGE_FIELD, OUTPUT = "INPUT", "IMAGE_FIELD", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        source = QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Street-view point layer"), [QgsProcessing.TypeVectorPoint]
        )
        source.setHelp(self.tr("One point per photo"))
        self.addParameter(source)
        image = QgsProcessingParameterField(
            self.IMAGE_FIELD, self.tr("Photo path field"), parentLayerParameterName=self.INPUT,
            type=QgsProcessingParameterField.String, optional=True,
        )
        image.setHelp(self.tr(
            "Text field with each photo's path (absolute, or relative to the layer file's "
            "folder). Empty: the first of image, photo, image_path, path, filepath."
        ))
        self.addParameter(image)
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
        if not self.parameterAsString(parameters, self.IMAGE_FIELD, context) and not (
            IMAGE_FIELDS & {n.lower() for n in names}
        ):
            return (f"Layer {source.sourceName()} has no 'image' or 'photo' field; choose the "
                    f"field with the photo paths (fields: {', '.join(names)}).")
        return ""

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        # A file layer is passed as it is (relative photo paths stay valid); memory,
        # database, selected or filtered features are first written to a temporary GeoPackage
        args = ["--input", *photo_layer_args(self, parameters, self.INPUT, context, feedback,
                                             "--layer")]
        image_field = self.parameterAsString(parameters, self.IMAGE_FIELD, context)
        if image_field:
            args += ["--image-field", image_field]
        # Called once: each call on a temporary output makes a new file name.
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return [*args, "--out", self._out]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        return {self.OUTPUT: self._out}
