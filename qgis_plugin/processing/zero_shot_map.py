"""`geocontrast:zero_shot_map`: a head fitted on photos, applied to an embedding field."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputBoolean,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from ..kinds import EMBEDDING_FIELD, set_param_kind
from .common import (
    add_map_output_params,
    add_model_param,
    load_map_outputs,
    map_output_args,
    model_problem,
    raster_file,
    single_layer_file,
)
from .engine_algorithm import EngineAlgorithm


class ZeroShotMapAlgorithm(EngineAlgorithm):
    """Runs `python -m engine map zero_shot|time --head H --field F --out DIR ...`."""

    COMMAND = "map"
    KINDS = ("zero_shot", "time")  # `map <kind>` subcommands this algorithm runs
    NAME = "zero_shot_map"
    DISPLAY_NAME = "Attribute map (zero-shot)"
    GROUP, GROUP_ID = "Map", "map"
    DEFAULT_NAME = "zero_shot"
    HELP = (
        "Maps an attribute where there is no photo: a head fitted on street-photo "
        "embeddings is applied to the overhead embedding field in the shared cross-view "
        "space. Writes a GeoTIFF (prediction, uncertainty), a styled GeoPackage (grid cells; "
        "per polygon when polygons are given) and a PNG. With a date-time and the model, "
        "the field is first conditioned on that time (time map)."
    )
    HEAD, FIELD, POLYGONS, ID_FIELD, NO_ALIGN, DATETIME = (
        "HEAD", "FIELD", "POLYGONS", "ID_FIELD", "NO_ALIGN", "DATETIME")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.HEAD, self.tr("Head (from 'Fit head')"), extension="safetensors"))
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field (from 'Embed overhead raster')")),
            EMBEDDING_FIELD))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POLYGONS, self.tr("Also average per polygon"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterField(
            self.ID_FIELD, self.tr("Polygon id field to keep"),
            parentLayerParameterName=self.POLYGONS, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.NO_ALIGN, self.tr("Do not re-centre the field on the photo mean"),
            defaultValue=False))
        when = QgsProcessingParameterString(
            self.DATETIME, self.tr("Time (ISO 8601 UTC, e.g. 2023-07-12T14:00:00Z)"),
            optional=True)
        when.setHelp(self.tr("Empty: a zero-shot map. Set: a time map (needs the model)"))
        self.addParameter(when)
        add_model_param(self, optional=True)
        add_map_output_params(self)
        self.addOutput(QgsProcessingOutputBoolean(
            "RELIABLE", self.tr("Passed the truth-free validity check (empty: not checked)")))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        when = self.parameterAsString(parameters, self.DATETIME, context).strip()
        if when and not self.parameterAsFile(parameters, "MODEL", context):
            return "A time map needs the model folder (the field is conditioned on the time)."
        return model_problem(self, parameters, context)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        when = self.parameterAsString(parameters, self.DATETIME, context).strip()
        args = ["time" if when else "zero_shot",
                "--head", self.parameterAsFile(parameters, self.HEAD, context),
                "--field", raster_file(self, parameters, self.FIELD, context)]
        if when:
            args += ["--datetime", when,
                     "--model", self.parameterAsFile(parameters, "MODEL", context)]
        if parameters.get(self.POLYGONS):
            args += ["--polygons", single_layer_file(self, parameters, self.POLYGONS, context,
                                               feedback)]
            id_field = self.parameterAsString(parameters, self.ID_FIELD, context)
            if id_field:
                args += ["--id-field", id_field]
        if self.parameterAsBool(parameters, self.NO_ALIGN, context):
            args.append("--no-align")
        return args + map_output_args(self, parameters, context)

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        check = result.get("validity") or {}
        if result.get("reliable") is False:
            feedback.reportError(
                f"UNRELIABLE map: at the {check.get('n')} labelled {check.get('places')} the "
                f"map correlates with the labels at r={check.get('r'):+.2f} (needs >= "
                f"{check.get('min_r')}); do not use it as a prediction", fatalError=False)
        elif result.get("reliable") is None and check:
            feedback.pushWarning(f"map not checked: {check.get('note')}")
        elif check:
            feedback.pushInfo(f"validity check passed: r={check.get('r'):+.2f} at "
                              f"{check.get('n')} labelled {check.get('places')}")
        return load_map_outputs(self, result, context)
