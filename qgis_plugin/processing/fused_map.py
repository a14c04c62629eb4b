"""`geocontrast:fused_map`: a fused head ('Fit head' with an overhead field or a second
embedding) at the photos."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFile,
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
)
from .engine_algorithm import EngineAlgorithm


class FusedMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map fused --head H --embeddings P (--field F |
    --fuse-embeddings Q) --out DIR`."""

    COMMAND = "map"
    KINDS = ("fused",)  # `map <kind>` subcommands this algorithm runs
    NAME = "fused_map"
    DISPLAY_NAME = "Fused map at the photos (photo + overhead)"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "fused"
    HELP = (
        "Applies a head fitted with 'Fuse with overhead field' ('Fit head') at every photo "
        "the field covers: each photo's embedding joined with the overhead pixel under it, "
        "as at fitting. Writes a styled point GeoPackage (prediction, uncertainty, flag: 1 "
        "beyond the training range) and a PNG. Use the photo embeddings and the field of the "
        "model the head was fitted on; for a head fitted with 'Fuse with a second embedding', "
        "that second embedding instead of the field."
    )
    HEAD, EMBEDDINGS, FIELD = "HEAD", "EMBEDDINGS", "FIELD"
    FUSE_EMBEDDINGS = "FUSE_EMBEDDINGS"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.HEAD, self.tr("Fused head (from 'Fit head' with a fused field)"),
            extension="safetensors"))
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.EMBEDDINGS, self.tr("Photo embeddings (from 'Embed street-view photos')"),
            [QgsProcessing.TypeVectorPoint]), EMBEDDINGS))
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field (from 'Embed overhead raster')"),
            optional=True), EMBEDDING_FIELD))
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.FUSE_EMBEDDINGS, self.tr("Second embedding of the photos (instead of the "
                                          "field)"),
            [QgsProcessing.TypeVectorPoint], optional=True), EMBEDDINGS))
        add_map_output_params(self, polygons=False, raster=False)
        self.addOutput(QgsProcessingOutputVectorLayer(
            "POINTS_LAYER", self.tr("Fused prediction at each photo")))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        if bool(parameters.get(self.FIELD)) == bool(parameters.get(self.FUSE_EMBEDDINGS)):
            return ("Give the head's second view: the embedding field (heads fused with an "
                    "overhead field) or the second embedding of the photos, one of them.")
        for name in (self.EMBEDDINGS, self.FUSE_EMBEDDINGS):
            problem = file_layer_problem(self, parameters, name, context)
            if problem:
                return problem
        return ""

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        path, _ = layer_file(self, parameters, self.EMBEDDINGS, context)
        second = (["--field", raster_file(self, parameters, self.FIELD, context)]
                  if parameters.get(self.FIELD) else
                  ["--fuse-embeddings",
                   layer_file(self, parameters, self.FUSE_EMBEDDINGS, context)[0]])
        return ["fused", "--head", self.parameterAsFile(parameters, self.HEAD, context),
                "--embeddings", path, *second, *map_output_args(self, parameters, context)]

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return load_map_outputs(self, result, context)
