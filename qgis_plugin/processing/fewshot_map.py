"""`geocontrast:fewshot_map`: a land-use / class map from a handful of labelled points."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
)

from ..kinds import EMBEDDING_FIELD, set_param_kind
from .common import (
    add_map_output_params,
    load_map_outputs,
    map_output_args,
    raster_file,
    single_layer_file,
)
from .engine_algorithm import EngineAlgorithm

CLASSIFIERS = ("logistic", "knn")


class FewShotMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map fewshot --field F --points P --class-field C ...`."""

    COMMAND = "map"
    KINDS = ("fewshot",)  # `map <kind>` subcommands this algorithm runs
    NAME = "fewshot_map"
    DISPLAY_NAME = "Few-shot class map"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "fewshot"
    HELP = (
        "Classifies every cell of an embedding field from a few labelled points (a class "
        "field: text or integer), with a logistic or k-NN classifier scored by spatial block "
        "cross-validation. Writes a categorised GeoTIFF, a styled GeoPackage and a PNG."
    )
    FIELD, POINTS, CLASS_FIELD, CLASSIFIER, BLOCK, SEED = (
        "FIELD", "POINTS", "CLASS_FIELD", "CLASSIFIER", "BLOCK_SIZE", "SEED")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field")), EMBEDDING_FIELD))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POINTS, self.tr("Labelled points"), [QgsProcessing.TypeVectorPoint]))
        self.addParameter(QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Class field"), parentLayerParameterName=self.POINTS))
        self.addParameter(QgsProcessingParameterEnum(
            self.CLASSIFIER, self.tr("Classifier"), options=list(CLASSIFIERS), defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK, self.tr("CV block size (metres; empty: derived from the labels)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Seed"), QgsProcessingParameterNumber.Integer, defaultValue=0))
        add_map_output_params(self, polygons=False)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        source = self.parameterAsSource(parameters, self.POINTS, context)
        field = self.parameterAsString(parameters, self.CLASS_FIELD, context)
        if source is None or not field:
            return ""
        index = source.fields().indexOf(field)
        if index < 0:
            return (f"Layer {source.sourceName()} has no field '{field}'; fields are "
                    f"{', '.join(source.fields().names())}.")
        classes = {str(v) for v in source.uniqueValues(index)}
        if len(classes) < 2:
            return f"Class field '{field}' needs at least two classes (found {len(classes)})."
        return ""

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        return ["fewshot",
                "--field", raster_file(self, parameters, self.FIELD, context),
                "--points", single_layer_file(self, parameters, self.POINTS, context, feedback),
                "--class-field", self.parameterAsString(parameters, self.CLASS_FIELD, context),
                "--classifier",
                CLASSIFIERS[self.parameterAsEnum(parameters, self.CLASSIFIER, context)],
                *self.block_size_args(parameters, context),
                "--seed", str(self.parameterAsInt(parameters, self.SEED, context)),
                *map_output_args(self, parameters, context)]

    def block_size_args(self, parameters: dict[str, Any], context: QgsProcessingContext
                        ) -> list[str]:
        """`--block-size` when the user set one; else the engine derives it from the labels."""
        if parameters.get(self.BLOCK) in (None, ""):
            return []
        return ["--block-size", str(self.parameterAsDouble(parameters, self.BLOCK, context))]

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return load_map_outputs(self, result, context)
