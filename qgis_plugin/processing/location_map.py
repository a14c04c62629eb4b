"""`geocontrast:location_map`: an attribute map from the location encoder alone (no imagery)."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterVectorLayer,
)

from ..kinds import EMBEDDINGS, set_param_kind
from .common import (
    add_map_output_params,
    add_model_param,
    file_layer_problem,
    layer_file,
    load_map_outputs,
    map_output_args,
    model_problem,
    single_layer_file,
)
from .engine_algorithm import EngineAlgorithm


class LocationMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map location --model M --embeddings E --target T ...`."""

    COMMAND = "map"
    KINDS = ("location",)  # `map <kind>` subcommands this algorithm runs
    NAME = "location_map"
    DISPLAY_NAME = "Attribute map from location"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "location"
    HELP = (
        "Fits a head (spatial CV) on the model's location-encoder embeddings at labelled "
        "points, then maps it over a regular grid: a map from coordinates alone, for places "
        "with neither photos nor imagery. Needs a model with a location encoder."
    )
    EMBEDDINGS, TARGET, EXTENT, STEP, BLOCK, SEED, POLYGONS = (
        "EMBEDDINGS", "TARGET", "EXTENT", "STEP", "BLOCK_SIZE", "SEED", "POLYGONS")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        add_model_param(self)
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.EMBEDDINGS, self.tr("Labelled points (photo embeddings with a label field)"),
            [QgsProcessing.TypeVectorPoint]), EMBEDDINGS))
        self.addParameter(QgsProcessingParameterField(
            self.TARGET, self.tr("Label field"), parentLayerParameterName=self.EMBEDDINGS,
            type=QgsProcessingParameterField.Numeric))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Map extent (empty: around the points)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEP, self.tr("Grid step (metres)"), QgsProcessingParameterNumber.Double,
            defaultValue=20.0, minValue=0.01))
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK, self.tr("CV block size (metres; empty: derived from the labels)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=1.0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Seed"), QgsProcessingParameterNumber.Integer, defaultValue=0))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POLYGONS, self.tr("Also average per polygon"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        add_map_output_params(self)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return (model_problem(self, parameters, context)
                or file_layer_problem(self, parameters, self.EMBEDDINGS, context))

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        args = ["location", "--model", self.parameterAsFile(parameters, "MODEL", context),
                "--embeddings", layer_file(self, parameters, self.EMBEDDINGS, context)[0],
                "--target", self.parameterAsString(parameters, self.TARGET, context),
                "--step", str(self.parameterAsDouble(parameters, self.STEP, context)),
                *self.block_size_args(parameters, context),
                "--seed", str(self.parameterAsInt(parameters, self.SEED, context))]
        if parameters.get(self.EXTENT):
            crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
            box = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
            args += ["--bounds", *(f"{v:.6f}" for v in (box.xMinimum(), box.yMinimum(),
                                                        box.xMaximum(), box.yMaximum())),
                     "--crs", crs.authid() or crs.toWkt()]
        if parameters.get(self.POLYGONS):
            args += ["--polygons", single_layer_file(self, parameters, self.POLYGONS, context,
                                               feedback)]
        return args + map_output_args(self, parameters, context)

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
