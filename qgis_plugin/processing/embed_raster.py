"""`geocontrast:embed_raster`: an overhead raster -> an embedding field (one band per dim)."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .common import (
    add_device_params,
    add_model_param,
    add_preview_output,
    device_args,
    field_outputs,
    model_arg,
    model_problem,
    single_layer_file,
)
from .engine_algorithm import EngineAlgorithm

DTYPES = ("float16", "int8", "float32")


class EmbedRasterAlgorithm(EngineAlgorithm):
    """Runs `python -m engine embed-raster --model M --raster R --out OUT.tif ...`."""

    COMMAND = "embed-raster"
    NAME = "embed_raster"
    DISPLAY_NAME = "Embed overhead raster"
    GROUP, GROUP_ID = "Embed", "embed"
    HELP = (
        "Slides a chip over an overhead raster and embeds it with a trained model (its "
        "folder) or a pretrained ImageNet network, writing an embedding field: a tiled "
        "GeoTIFF with one band per embedding dimension (float16, or int8 with the scale "
        "recorded), plus a 3-band PCA preview. Limit it to an extent or to polygons to save "
        "time. Reads the raster window by window; memory stays bounded."
    )
    INPUT, EXTENT, MASK, CHIP, STRIDE, DTYPE, OUTPUT = (
        "INPUT", "EXTENT", "MASK", "CHIP", "STRIDE", "DTYPE", "OUTPUT")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        add_model_param(self, zoo=True)
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT,
                                                            self.tr("Overhead raster")))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Limit to extent"),
                                                       optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.MASK, self.tr("Limit to polygons"), [QgsProcessing.TypeVectorPolygon],
            optional=True))
        for name, label in ((self.CHIP, "Chip size in pixels (0: the model's)"),
                            (self.STRIDE, "Stride in pixels (0: the engine's default)")):
            param = QgsProcessingParameterNumber(name, self.tr(label),
                                                 QgsProcessingParameterNumber.Integer,
                                                 defaultValue=0, minValue=0)
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(param)
        self.addParameter(QgsProcessingParameterEnum(self.DTYPE, self.tr("Storage type"),
                                                     options=list(DTYPES), defaultValue=0))
        add_device_params(self)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Embedding field")))
        add_preview_output(self)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        raster = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if raster is not None and not raster.crs().isValid():
            return f"Raster {raster.name()} has no CRS; assign one in its properties."
        if raster is not None and raster.providerType() != "gdal":
            return f"Raster {raster.name()} is not a file (provider {raster.providerType()})."
        return model_problem(self, parameters, context)

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        raster = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        args = ["--model", model_arg(self, parameters, context),
                "--raster", raster.source(), "--out", self._out,
                "--dtype", DTYPES[self.parameterAsEnum(parameters, self.DTYPE, context)]]
        if parameters.get(self.EXTENT):  # as a box in the raster's own CRS
            box = self.parameterAsExtent(parameters, self.EXTENT, context, raster.crs())
            args += ["--bbox", *(f"{v:.6f}" for v in (box.xMinimum(), box.yMinimum(),
                                                   box.xMaximum(), box.yMaximum()))]
        if parameters.get(self.MASK):
            path = single_layer_file(self, parameters, self.MASK, context, feedback)
            args += ["--mask", path]
        for name, flag in ((self.CHIP, "--chip"), (self.STRIDE, "--stride")):
            value = self.parameterAsInt(parameters, name, context)
            if value:
                args += [flag, str(value)]
        return args + device_args(self, parameters, context)

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        return field_outputs(self, self._out, result, context)
