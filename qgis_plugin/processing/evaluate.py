"""`geocontrast:evaluate`: the benchmark report (the seeds' tasks against baselines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from .engine_algorithm import EngineAlgorithm


class EvaluateAlgorithm(EngineAlgorithm):
    """Runs `python -m engine evaluate --out REPORT.md [--quick] [--city C] [--seeds N]`."""

    COMMAND = "evaluate"
    NAME = "evaluate"
    DISPLAY_NAME = "Evaluate (benchmark report)"
    GROUP, GROUP_ID = "Evaluate", "evaluate"
    HELP = (
        "Trains the recipes the seeds compare (self, temporal, spatial, cross-view, location "
        "encoders), then scores visual place recognition, socioeconomic and perception "
        "regression with spatial block cross-validation, cross-view retrieval and zero-shot "
        "map fidelity against a random-init encoder and raw pixels. Writes a Markdown report "
        "with the claims reproduced or not. 'Quick' is a smoke run on the small city. The "
        "models and features it trains go to a REPORT_work folder beside the report (about "
        "300 MB for a quick run, more for a full one): delete it when done."
    )
    CITY, QUICK, SEEDS, STEPS, OUTPUT = "CITY", "QUICK", "SEEDS", "STEPS", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.CITY, self.tr("Sample city folder (empty: generate one)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.QUICK, self.tr("Quick (small city, 1 seed, short training)"), defaultValue=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEEDS, self.tr("Training seeds per model (0: the mode's default)"),
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEPS, self.tr("Training steps (0: the mode's default)"),
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Report"), "Markdown (*.md)"))

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        report = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        # models, maps and generated cities go beside the report, never in the engine's tree
        # (the engine's default work folder is relative to its own install)
        work = Path(report).with_name(Path(report).stem + "_work")
        args = ["--out", report, "--work", str(work)]
        city = self.parameterAsFile(parameters, self.CITY, context)
        if city:
            args += ["--city", city]
        if self.parameterAsBool(parameters, self.QUICK, context):
            args.append("--quick")
        for name, flag in ((self.SEEDS, "--seeds"), (self.STEPS, "--steps")):
            value = self.parameterAsInt(parameters, name, context)
            args += [flag, str(value)] if value else []
        return args

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        feedback.pushInfo(f"report: {result.get('report')}")
        return {self.OUTPUT: result.get("report")}
