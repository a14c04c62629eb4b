"""`geocontrast:similarity_map`: "places like these" from a few example points, no labels."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)

from ..kinds import EMBEDDING_FIELD, EMBEDDINGS, set_param_kind
from .common import (
    add_map_output_params,
    file_layer_problem,
    layer_file,
    load_map_outputs,
    map_output_args,
    raster_file,
    single_layer_file,
)
from .engine_algorithm import EngineAlgorithm


class SimilarityMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map similarity (--field F | --embeddings P) --examples E`."""

    COMMAND = "map"
    KINDS = ("similarity",)  # `map <kind>` subcommands this algorithm runs
    NAME = "similarity_map"
    DISPLAY_NAME = "Similarity map"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "similarity"
    HELP = (
        "Maps how alike every raster cell (embedding field) or every photo (photo "
        "embeddings) is to a few example places: cosine similarity to the mean example, "
        "minus the similarity to counter-examples (rows whose example field is 0/false). "
        "Band 2 'spread' is high where the examples disagree. The dock 'Similarity search by "
        "click' does the same from clicks on the map."
    )
    FIELD, EMBEDDINGS, EXAMPLES, EXAMPLE_FIELD = "FIELD", "EMBEDDINGS", "EXAMPLES", "EXAMPLE_FIELD"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field"), optional=True), EMBEDDING_FIELD))
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.EMBEDDINGS, self.tr("or photo embeddings"), [QgsProcessing.TypeVectorPoint],
            optional=True), EMBEDDINGS))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.EXAMPLES, self.tr("Example points"), [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField(
            self.EXAMPLE_FIELD, self.tr("Like (1) / unlike (0) field"),
            parentLayerParameterName=self.EXAMPLES, optional=True))
        add_map_output_params(self, polygons=False)
        self.addOutput(QgsProcessingOutputVectorLayer(
            "POINTS_LAYER", self.tr("Similarity of each photo (with photo embeddings)")))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        if bool(parameters.get(self.FIELD)) == bool(parameters.get(self.EMBEDDINGS)):
            return "Give either an embedding field or photo embeddings (one of the two)."
        return file_layer_problem(self, parameters, self.EMBEDDINGS, context)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        args = ["similarity"]
        if parameters.get(self.FIELD):
            args += ["--field", raster_file(self, parameters, self.FIELD, context)]
        else:
            args += ["--embeddings", layer_file(self, parameters, self.EMBEDDINGS, context)[0]]
        args += ["--examples", single_layer_file(self, parameters, self.EXAMPLES, context,
                                           feedback)]
        example_field = self.parameterAsString(parameters, self.EXAMPLE_FIELD, context)
        if example_field:
            args += ["--example-field", example_field]
        return args + map_output_args(self, parameters, context)

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return load_map_outputs(self, result, context)
