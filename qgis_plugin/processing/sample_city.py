"""`geocontrast:sample_city`: generate the deterministic sample city and load its layers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputRasterLayer,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
)

from .engine_algorithm import EngineAlgorithm

PRESETS = ("small", "default")


class SampleCityAlgorithm(EngineAlgorithm):
    """Runs `python -m engine sample-city --out DIR --preset P --seed N`."""

    COMMAND = "sample-city"
    NAME = "sample_city"
    DISPLAY_NAME = "Generate sample city"
    GROUP, GROUP_ID = "Data", "data"
    HELP = (
        "Writes the embedded, deterministic sample city: street-view photos as a point "
        "layer (streetview.gpkg), overhead GeoTIFFs at several dates, census-like tracts "
        "and the hidden truth rasters, in EPSG:32617. The same seed gives the same bytes. "
        "'small' takes seconds (64x64 photos); 'default' is the full demo city."
    )

    PRESET, SEED, LOAD, OUTPUT = "PRESET", "SEED", "LOAD_LAYERS", "OUTPUT"
    STREETVIEW, TRACTS, OVERHEAD = "STREETVIEW", "TRACTS", "OVERHEAD"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        preset = QgsProcessingParameterEnum(
            self.PRESET, self.tr("Preset"), options=list(PRESETS), defaultValue=0
        )
        preset.setHelp(self.tr("'small' for a quick look or tests, 'default' for the demo"))
        self.addParameter(preset)
        seed = QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), QgsProcessingParameterNumber.Integer,
            defaultValue=0, minValue=0,
        )
        seed.setHelp(self.tr("The same seed always writes the same city"))
        self.addParameter(seed)
        load = QgsProcessingParameterBoolean(
            self.LOAD, self.tr("Load the layers into the project"), defaultValue=True
        )
        self.addParameter(load)
        out = QgsProcessingParameterFolderDestination(self.OUTPUT, self.tr("Output folder"))
        out.setHelp(self.tr("An empty (or new) folder for the city"))
        self.addParameter(out)
        self.addOutput(QgsProcessingOutputVectorLayer(self.STREETVIEW, self.tr("Street views")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.TRACTS, self.tr("Tracts")))
        self.addOutput(QgsProcessingOutputRasterLayer(self.OVERHEAD, self.tr("Overhead image")))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        out = Path(self.parameterAsString(parameters, self.OUTPUT, context))
        if out.exists() and not out.is_dir():
            return f"Output folder {out} is a file; choose a folder."
        return ""

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        preset = PRESETS[self.parameterAsEnum(parameters, self.PRESET, context)]
        seed = self.parameterAsInt(parameters, self.SEED, context)
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        return ["--out", out, "--preset", preset, "--seed", str(seed)]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        out = Path(self.parameterAsString(parameters, self.OUTPUT, context))
        streetview = f"{out / 'streetview.gpkg'}|layername=streetview"
        tracts = f"{out / 'tracts.gpkg'}|layername=tracts"
        overheads = sorted((out / "overhead").glob("overhead_*.tif"))
        overhead = str(overheads[-1]) if overheads else ""
        manifest = out / "city.json"
        if manifest.is_file():
            info = json.loads(manifest.read_text(encoding="utf-8"))
            feedback.pushInfo(f"sample city: {info.get('counts', {})}, CRS {info.get('crs')}")
        if self.parameterAsBool(parameters, self.LOAD, context):
            from .postprocess import load_styled

            layers = [  # rank 0 on top: points over tract outlines over the image
                (streetview, "Street views", self.STREETVIEW, ""),
                (tracts, "Tracts", self.TRACTS, "outline"),
                (overhead, "Overhead (latest date)", self.OVERHEAD, ""),
            ]
            for rank, (source, label, output_name, style) in enumerate(layers):
                if source:
                    load_styled(context, source, label, output_name, style,
                                f"Sample city ({out.name})", rank)
        return {
            self.OUTPUT: str(out),
            self.STREETVIEW: streetview,
            self.TRACTS: tracts,
            self.OVERHEAD: overhead,
        }
