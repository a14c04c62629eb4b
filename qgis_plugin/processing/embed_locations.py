"""`geocontrast:embed_locations`: location-encoder embeddings over a grid (a GeoTIFF)."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from .common import (
    add_device_params,
    add_model_param,
    add_preview_output,
    device_args,
    field_outputs,
    model_problem,
)
from .embed_raster import DTYPES
from .engine_algorithm import EngineAlgorithm


class EmbedLocationsAlgorithm(EngineAlgorithm):
    """Runs `python -m engine embed-locations --model M --bounds ... --crs C --step S`."""

    COMMAND = "embed-locations"
    NAME = "embed_locations"
    DISPLAY_NAME = "Embed locations (grid)"
    GROUP, GROUP_ID = "Embed", "embed"
    HELP = (
        "Embeds every cell of a regular grid over an extent with the model's location "
        "encoder (no imagery needed): a GeoTIFF with one band per dimension, usable like an "
        "embedding field. The grid is in metres (the extent's CRS if projected, else the "
        "local UTM zone)."
    )
    EXTENT, STEP, DTYPE, OUTPUT = "EXTENT", "STEP", "DTYPE", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        add_model_param(self)
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent")))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEP, self.tr("Grid step (metres)"), QgsProcessingParameterNumber.Double,
            defaultValue=20.0, minValue=0.01))
        self.addParameter(QgsProcessingParameterEnum(self.DTYPE, self.tr("Storage type"),
                                                     options=list(DTYPES), defaultValue=0))
        add_device_params(self, batch_size=False)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Location embeddings")))
        add_preview_output(self)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        return model_problem(self, parameters, context)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context)
        box = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return ["--model", self.parameterAsFile(parameters, "MODEL", context),
                "--out", self._out,
                "--bounds", *(f"{v:.6f}" for v in (box.xMinimum(), box.yMinimum(),
                                                   box.xMaximum(), box.yMaximum())),
                "--crs", crs.authid() or crs.toWkt(),
                "--step", str(self.parameterAsDouble(parameters, self.STEP, context)),
                "--dtype", DTYPES[self.parameterAsEnum(parameters, self.DTYPE, context)],
                *device_args(self, parameters, context, batch_size=False)]

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return field_outputs(self, self._out, result, context)
