"""`geocontrast:embed_points`: one embedding per photo of a street-view layer."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterVectorDestination,
)

from .common import (
    add_device_params,
    add_model_param,
    device_args,
    model_arg,
    model_problem,
    photo_layer_args,
)
from .engine_algorithm import EngineAlgorithm


class EmbedPointsAlgorithm(EngineAlgorithm):
    """Runs `python -m engine embed-points --model M --layer L --out OUT.gpkg`."""

    COMMAND = "embed-points"
    NAME = "embed_points"
    DISPLAY_NAME = "Embed street-view photos"
    GROUP, GROUP_ID = "Embed", "embed"
    HELP = (
        "Embeds every photo of a street-view point layer with a trained model (its folder) "
        "or a pretrained ImageNet network (no training needed). The output "
        "GeoPackage keeps the points and their fields and adds the vector (layer "
        "'embeddings', a BLOB column described in the gc_embedding_meta table) plus a faiss "
        "index beside it. Photos that cannot be read are counted and named in the log."
    )
    INPUT, OUTPUT = "INPUT", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        add_model_param(self, zoo=True)
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Street-view point layer"), [QgsProcessing.TypeVectorPoint]))
        add_device_params(self)
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Photo embeddings"), type=QgsProcessing.TypeVectorPoint))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return model_problem(self, parameters, context)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        layer = photo_layer_args(self, parameters, self.INPUT, context, feedback,
                                 "--layer-name")
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return ["--model", model_arg(self, parameters, context), "--layer", *layer,
                "--out", self._out, *device_args(self, parameters, context)]

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        if result.get("skipped"):
            feedback.pushWarning(f"{result['skipped']} photo(s) could not be embedded: "
                                 f"{result.get('skipped_rows')}")
        uri = self.retarget_output(context, self._out, str(result.get("layer") or ""))
        return {self.OUTPUT: uri}
