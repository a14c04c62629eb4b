"""`geocontrast:demo`: the whole job on the sample city, then its maps in the project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .engine_algorithm import EngineAlgorithm

MAX_LOADED_MAPS = 12


class DemoAlgorithm(EngineAlgorithm):
    """Runs `python -m engine demo --out DIR [--city C] [--quick] [--retrain] [--steps N]`."""

    COMMAND = "demo"
    NAME = "demo"
    DISPLAY_NAME = "Run the demo (sample city to maps)"
    GROUP, GROUP_ID = "Data", "data"
    HELP = (
        "Sample city -> pretrain a cross-view model -> embed photos and overhead rasters -> "
        "fit heads with spatial cross-validation -> zero-shot maps -> report.md. Reuses a "
        "trained model when the settings are unchanged. 'Quick' takes a minute or so; the "
        "full demo trains longer. The maps load into the project, styled."
    )
    CITY, QUICK, RETRAIN, STEPS, OUTPUT = "CITY", "QUICK", "RETRAIN", "STEPS", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.CITY, self.tr("Sample city folder (empty: generate one in the output folder)"),
            behavior=QgsProcessingParameterFile.Folder, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.QUICK, self.tr("Quick (small city, short training)"), defaultValue=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RETRAIN, self.tr("Train even if a model exists"), defaultValue=False))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEPS, self.tr("Training steps (0: the preset's)"),
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile("REPORT", self.tr("Report (Markdown)")))
        self.addOutput(QgsProcessingOutputFolder("MODEL", self.tr("Model folder")))

    def engine_args(self, parameters: dict[str, Any], context: QgsProcessingContext,
                    feedback: QgsProcessingFeedback) -> list[str]:
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        city = self.parameterAsFile(parameters, self.CITY, context)
        # no city given: generate it inside the chosen folder, never in the engine's tree
        args = ["--out", out, "--city", city or str(Path(out) / "city")]
        if self.parameterAsBool(parameters, self.QUICK, context):
            args.append("--quick")
        if self.parameterAsBool(parameters, self.RETRAIN, context):
            args.append("--retrain")
        steps = self.parameterAsInt(parameters, self.STEPS, context)
        return args + (["--steps", str(steps)] if steps else [])

    def collect_outputs(self, result: dict[str, Any], parameters: dict[str, Any],
                        context: QgsProcessingContext,
                        feedback: QgsProcessingFeedback) -> dict[str, Any]:
        maps = Path(str(result.get("maps") or ""))
        tifs = sorted(maps.glob("*.tif")) if maps.is_dir() else []
        from .postprocess import load_styled

        for rank, tif in enumerate(tifs[:MAX_LOADED_MAPS]):
            load_styled(context, str(tif), tif.stem, "", "map", "GeoContrast demo maps", rank)
        if len(tifs) > MAX_LOADED_MAPS:
            feedback.pushInfo(f"{len(tifs) - MAX_LOADED_MAPS} more maps are in {maps}")
        if result.get("report"):
            feedback.pushInfo(f"report: {result['report']}")
        return {self.OUTPUT: str(result.get("out") or ""), "REPORT": result.get("report"),
                "MODEL": result.get("model")}
