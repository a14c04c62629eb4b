"""`geocontrast:predict_map`: a head fitted on the embedding field itself, mapped over it."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
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


class PredictMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map predict --head H --field F --out DIR [--mask M] [--clip]`."""

    COMMAND = "map"
    KINDS = ("predict",)  # `map <kind>` subcommands this algorithm runs
    NAME = "predict_map"
    DISPLAY_NAME = "Attribute map (supervised)"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "predict"
    HELP = (
        "Maps an attribute with a head fitted on the embedding field itself ('Fit head' with "
        "the field and labelled polygons): no re-centring. Writes a GeoTIFF (prediction, "
        "uncertainty, flag: 1 where the prediction lies beyond the training range), a styled "
        "GeoPackage and a PNG. A mask layer (e.g. land only) leaves everything outside nodata."
    )
    HEAD, FIELD, POLYGONS, ID_FIELD, MASK, CLIP = (
        "HEAD", "FIELD", "POLYGONS", "ID_FIELD", "MASK", "CLIP")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.HEAD, self.tr("Head (from 'Fit head' on this field)"), extension="safetensors"))
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field (from 'Embed overhead raster')")),
            EMBEDDING_FIELD))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POLYGONS, self.tr("Also average per polygon"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.ID_FIELD, self.tr("Polygon id field to keep"),
            parentLayerParameterName=self.POLYGONS, optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.MASK, self.tr("Mask: map only inside these polygons"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.CLIP, self.tr("Clip predictions to the training range"), defaultValue=False))
        add_map_output_params(self)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        args = ["predict", "--head", self.parameterAsFile(parameters, self.HEAD, context),
                "--field", raster_file(self, parameters, self.FIELD, context)]
        if parameters.get(self.POLYGONS):
            args += ["--polygons", single_layer_file(self, parameters, self.POLYGONS, context,
                                               feedback)]
            id_field = self.parameterAsString(parameters, self.ID_FIELD, context)
            if id_field:
                args += ["--id-field", id_field]
        if parameters.get(self.MASK):
            args += ["--mask", single_layer_file(self, parameters, self.MASK, context, feedback)]
        if self.parameterAsBool(parameters, self.CLIP, context):
            args.append("--clip")
        return args + map_output_args(self, parameters, context)

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return load_map_outputs(self, result, context)
