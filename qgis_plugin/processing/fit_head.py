"""`geocontrast:fit_head`: a light head on embeddings + labels, scored by spatial block CV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)

from ..kinds import EMBEDDING_FIELD, EMBEDDINGS, set_param_kind
from .common import file_layer_problem, layer_file, raster_file, vector_file
from .engine_algorithm import EngineAlgorithm

HEADS = ("ridge", "logistic", "knn")


class FitHeadAlgorithm(EngineAlgorithm):
    """Runs `python -m engine fit --target T (--embeddings P | --polygons G ...) --out H`."""

    COMMAND = "fit"
    NAME = "fit_head"
    DISPLAY_NAME = "Fit head (spatial CV)"
    GROUP, GROUP_ID = "Learn", "learn"
    HELP = (
        "Fits a ridge / logistic / k-NN head that predicts a label from embeddings. Labels "
        "come from a field of the photo-embedding layer, or from polygons (e.g. census "
        "tracts: the embeddings inside each polygon are averaged). With polygons the label is "
        "their field; without, a field of the photo embeddings. Scores come from spatial "
        "block cross-validation (every transform fitted inside the fold), so neighbours "
        "never leak into the test fold. With 'Fuse with overhead field', each photo's "
        "embedding is joined with the field pixel under it (near/remote fusion): map such a "
        "head with 'Fused map at the photos'. With 'Fuse with a second embedding', each "
        "photo's embedding is joined with its embedding by another model (e.g. a geographic "
        "recipe next to the frozen pretrained network), both ridges stacked. Writes "
        "HEAD.safetensors, HEAD.json and HEAD.cv.json."
    )
    EMBEDDINGS, FIELD, POLYGONS = "EMBEDDINGS", "FIELD", "POLYGONS"
    FUSE_FIELD, FUSE_EMBEDDINGS = "FUSE_FIELD", "FUSE_EMBEDDINGS"
    TARGET, POINT_TARGET = "TARGET", "POINT_TARGET"  # label field of the polygons / points
    TARGET_LABEL = "Label field of the polygons"
    POINT_TARGET_LABEL = "Label field of the photo embeddings (without polygons)"
    HINT_LABELS = {"block_size_m": "'CV block size (metres)'", "--block-size":
                   "'CV block size (metres)'", "fewer folds": "fewer 'CV folds'",
                   "--folds": "'CV folds'", "--target": "label field", "--head": "'Head'"}
    HEAD, BLOCK, FOLDS, SEED, OUTPUT = "HEAD", "BLOCK_SIZE", "FOLDS", "SEED", "OUTPUT"
    CV_REPORT = "CV_REPORT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.EMBEDDINGS, self.tr("Photo embeddings (from 'Embed street-view photos')"),
            [QgsProcessing.TypeVectorPoint], optional=True), EMBEDDINGS))
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FIELD, self.tr("Embedding field (from 'Embed overhead raster')"),
            optional=True), EMBEDDING_FIELD))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.POLYGONS, self.tr("Label polygons (e.g. tracts)"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        target = QgsProcessingParameterField(
            self.TARGET, self.tr(self.TARGET_LABEL), parentLayerParameterName=self.POLYGONS,
            optional=True)
        target.setHelp(self.tr("The attribute to predict, read from the label polygons (with "
                               "no polygons, a name here is read from the photo embeddings)"))
        self.addParameter(target)
        point_target = QgsProcessingParameterField(
            self.POINT_TARGET, self.tr(self.POINT_TARGET_LABEL),
            parentLayerParameterName=self.EMBEDDINGS, optional=True)
        point_target.setHelp(self.tr("The attribute to predict, read from each photo; used "
                                     "only when no label polygons are given"))
        self.addParameter(point_target)
        self.addParameter(set_param_kind(QgsProcessingParameterRasterLayer(
            self.FUSE_FIELD, self.tr("Fuse with overhead field (photo + overhead head)"),
            optional=True), EMBEDDING_FIELD))
        self.addParameter(set_param_kind(QgsProcessingParameterVectorLayer(
            self.FUSE_EMBEDDINGS, self.tr("Fuse with a second embedding of the same photos"),
            [QgsProcessing.TypeVectorPoint], optional=True), EMBEDDINGS))
        self.addParameter(QgsProcessingParameterEnum(self.HEAD, self.tr("Head"),
                                                     options=list(HEADS), defaultValue=0))
        block = QgsProcessingParameterNumber(
            self.BLOCK, self.tr("CV block size (metres)"),
            QgsProcessingParameterNumber.Double, optional=True, minValue=1.0)
        block.setHelp(self.tr("Empty: the engine derives it from the labels' geometry"))
        self.addParameter(block)
        self.addParameter(QgsProcessingParameterNumber(
            self.FOLDS, self.tr("CV folds"), QgsProcessingParameterNumber.Integer,
            defaultValue=5, minValue=2))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Seed"), QgsProcessingParameterNumber.Integer, defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Head"), fileFilter="Head (*.safetensors)"))
        self.addOutput(QgsProcessingOutputFile(
            self.CV_REPORT, self.tr("Spatial CV report (JSON: scores per fold)")))

    def labels(self, parameters: dict[str, Any], context: QgsProcessingContext
               ) -> tuple[str, str]:
        """(layer parameter, field) the labels come from: the polygons' field when polygons
        are given, else the photo embeddings' (where a TARGET name is accepted too)."""
        polygons_field = self.parameterAsString(parameters, self.TARGET, context)
        if parameters.get(self.POLYGONS):
            return self.POLYGONS, polygons_field
        return self.EMBEDDINGS, (self.parameterAsString(parameters, self.POINT_TARGET, context)
                                 or polygons_field)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        has = {name: bool(parameters.get(name)) for name in
               (self.EMBEDDINGS, self.FIELD, self.POLYGONS)}
        if not has[self.POLYGONS] and not has[self.EMBEDDINGS]:
            return "Give photo embeddings (labels in a point field) or label polygons."
        if has[self.POLYGONS] and not (has[self.EMBEDDINGS] or has[self.FIELD]):
            return "Label polygons need photo embeddings or an embedding field to average."
        if parameters.get(self.FUSE_FIELD) and not has[self.EMBEDDINGS]:
            return ("'Fuse with overhead field' joins the field to photo embeddings: give "
                    "the photo embeddings too.")
        if parameters.get(self.FUSE_EMBEDDINGS):
            if not has[self.EMBEDDINGS]:
                return ("'Fuse with a second embedding' joins it to photo embeddings: give "
                        "the photo embeddings too.")
            if parameters.get(self.FUSE_FIELD):
                return ("Fuse one second view: 'Fuse with overhead field' or 'Fuse with a "
                        "second embedding', not both.")
        for name in (self.EMBEDDINGS, self.FUSE_EMBEDDINGS):  # --layer carries the first's
            problem = file_layer_problem(self, parameters, name, context,
                                         layer_passed=name == self.EMBEDDINGS)
            if problem:
                return problem
        labelled, target = self.labels(parameters, context)
        if not target:
            label = self.TARGET_LABEL if labelled == self.POLYGONS else self.POINT_TARGET_LABEL
            return f"Choose '{self.tr(label)}': the attribute the head learns to predict."
        source = self.parameterAsSource(parameters, labelled, context)
        if source is not None and source.fields().indexOf(target) < 0:
            return (f"{source.sourceName()} has no field '{target}'; fields are "
                    f"{', '.join(source.fields().names())}.")
        if source is not None:
            return self.fold_problem(source, target,
                                     self.parameterAsDouble(parameters, self.BLOCK, context),
                                     self.parameterAsInt(parameters, self.FOLDS, context))
        return ""

    def fold_problem(self, source: Any, target: str, block_m: float, folds: int) -> str:
        """"" when the labelled features fill at least 2 CV blocks (fewer than `folds`: the
        engine uses fewer folds and says so), else the problem in the dialog's words (the
        same square grid as the engine: anchored at the minimum x, y)."""
        crs = source.sourceCrs()
        if not crs.isValid() or crs.isGeographic() or block_m <= 0:
            return ""  # degrees: the engine projects and checks itself
        xs, ys = [], []
        for feature in source.getFeatures():
            value = feature[target]
            geom = feature.geometry()
            if value is None or geom is None or geom.isEmpty() or str(value) in ("", "NULL"):
                continue
            point = geom.centroid().asPoint()
            xs.append(point.x())
            ys.append(point.y())
        if not xs:
            return f"No feature of {source.sourceName()} has a value in '{target}'."
        x0, y0 = min(xs), min(ys)
        cells = {(int((x - x0) // block_m), int((y - y0) // block_m))
                 for x, y in zip(xs, ys, strict=True)}
        if len(cells) >= 2:
            return ""  # fewer blocks than folds: the engine uses fewer folds and says so
        span = max(max(xs) - x0, max(ys) - y0)
        suggest = min(round(span / (folds ** 0.5 + 1) / 10) * 10, block_m / 2)
        fix = (f"set it to about {max(1.0, suggest):g}" if span > 0
               else "label features in more than one place")
        return (f"'{self.tr('CV block size (metres)')}' {block_m:g} gives only 1 block "
                "holding labelled features: spatial cross-validation needs at least 2 (with "
                f"fewer blocks than '{self.tr('CV folds')}', fewer folds are used); {fix}.")

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        args = ["--target", self.labels(parameters, context)[1]]
        if parameters.get(self.EMBEDDINGS):
            path, layer = layer_file(self, parameters, self.EMBEDDINGS, context)
            args += ["--embeddings", path] + (["--layer", layer] if layer else [])
        if parameters.get(self.FIELD):
            args += ["--field", raster_file(self, parameters, self.FIELD, context)]
        if parameters.get(self.POLYGONS):
            path, layer = vector_file(self, parameters, self.POLYGONS, context, feedback)
            args += ["--polygons", path] + (["--polygons-layer", layer] if layer else [])
        if parameters.get(self.FUSE_FIELD):
            args += ["--fuse-field", raster_file(self, parameters, self.FUSE_FIELD, context)]
        if parameters.get(self.FUSE_EMBEDDINGS):
            args += ["--fuse-embeddings",
                     layer_file(self, parameters, self.FUSE_EMBEDDINGS, context)[0]]
        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        return args + [
            "--head", HEADS[self.parameterAsEnum(parameters, self.HEAD, context)],
            *self.block_size_args(parameters, context),
            "--folds", str(self.parameterAsInt(parameters, self.FOLDS, context)),
            "--seed", str(self.parameterAsInt(parameters, self.SEED, context)),
            "--out", out]

    def block_size_args(self, parameters: dict[str, Any], context: QgsProcessingContext
                        ) -> list[str]:
        """`--block-size` when the user set one; else the engine derives it from the labels."""
        if parameters.get(self.BLOCK) in (None, ""):
            return []
        return ["--block-size", str(self.parameterAsDouble(parameters, self.BLOCK, context))]

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        head = str(result.get("head") or self.parameterAsFileOutput(parameters, self.OUTPUT,
                                                                     context))
        return {self.OUTPUT: head, self.CV_REPORT: str(result.get("cv_report") or
                                                      Path(head).with_suffix(".cv.json"))}
