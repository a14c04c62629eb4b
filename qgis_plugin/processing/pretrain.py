"""`geocontrast:pretrain`: pretrain an encoder from a recipe (engine command `train`)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from .common import DEVICES
from .engine_algorithm import EngineAlgorithm

DEFAULT_RECIPE = "crossview_spatial"


def recipe_names() -> list[str]:
    """The recipes the engine ships (`python -m engine recipes` lists the same): from the
    engine wheel in the plugin zip, or a checkout's models/ folder."""
    import zipfile

    from ..engine_setup import engine_wheel

    wheel = engine_wheel()
    if wheel is not None:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if n.startswith("engine/recipes/")]
        return sorted(Path(n).stem for n in names if n.endswith(".yaml"))
    checkout = Path(__file__).resolve().parents[2] / "models"
    return sorted(p.stem for p in checkout.glob("*.yaml"))


def yaml_value(value: Any) -> str:
    """A value the engine's key=value overrides read back exactly (JSON is YAML)."""
    return json.dumps(value)


class PretrainAlgorithm(EngineAlgorithm):
    """Runs `python -m engine train --config RECIPE key=value ...`."""

    COMMAND = "train"
    NAME = "pretrain"
    DISPLAY_NAME = "Pretrain encoder"
    GROUP, GROUP_ID = "Learn", "learn"
    HELP = (
        "Pretrains an image encoder with the geo-aware contrastive objectives of a recipe "
        "(shipped with the engine, by name): two views of a photo, the same place at other "
        "times, nearby places, image vs. location, street photo vs. overhead chip. Layers "
        "given here replace the recipe's data paths. Writes config.yaml, model.safetensors "
        "and a model card to the output folder. Long: watch the progress bar, cancel at any time."
    )

    RECIPE, CONFIG, STREETVIEW, OVERHEAD = "RECIPE", "CONFIG", "STREETVIEW", "OVERHEAD"
    STEPS, DEVICE, OVERRIDES, RESUME, OUTPUT = "STEPS", "DEVICE", "OVERRIDES", "RESUME", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.recipes = recipe_names()
        default = self.recipes.index(DEFAULT_RECIPE) if DEFAULT_RECIPE in self.recipes else 0
        named = QgsProcessingParameterEnum(self.RECIPE, self.tr("Recipe"),
                                           options=self.recipes, defaultValue=default)
        named.setHelp(self.tr("A recipe shipped with the engine (`python -m engine recipes`)"))
        self.addParameter(named)
        recipe = QgsProcessingParameterFile(self.CONFIG, self.tr("or a recipe file (YAML)"),
                                            optional=True, fileFilter="YAML (*.yaml *.yml)")
        recipe.setHelp(self.tr("Your own recipe; it replaces the one chosen above"))
        self.addParameter(recipe)
        self.addParameter(QgsProcessingParameterVectorLayer(
            self.STREETVIEW, self.tr("Street-view layer (replaces the recipe's)"),
            [QgsProcessing.TypeVectorPoint], optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.OVERHEAD, self.tr("Overhead rasters (replace the recipe's)"),
            QgsProcessing.TypeRaster, optional=True))
        steps = QgsProcessingParameterNumber(
            self.STEPS, self.tr("Training steps (0: the recipe's)"),
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0)
        self.addParameter(steps)
        self.addParameter(QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), options=list(DEVICES), defaultValue=0))
        overrides = QgsProcessingParameterString(
            self.OVERRIDES, self.tr("More recipe overrides (key=value ...)"), optional=True)
        overrides.setHelp(self.tr("e.g. train.batch_size=16 objectives.temporal.weight=0.5"))
        self.addParameter(overrides)
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESUME, self.tr("Resume from the last checkpoint"), defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT, self.tr("Model folder")))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        recipe = self.parameterAsFile(parameters, self.CONFIG, context)
        if recipe and not Path(recipe).is_file():
            return f"Recipe file {recipe} does not exist; choose a YAML file or a recipe by name."
        if not recipe and not self.recipes:
            return "No recipe is shipped here; choose a recipe file (YAML)."
        text = self.parameterAsString(parameters, self.OVERRIDES, context)
        try:
            items = shlex.split(text)
        except ValueError as exc:
            return f"More recipe overrides: {exc} (quote values with spaces)."
        bad = [item for item in items if "=" not in item]
        if bad:
            return f"More recipe overrides: {bad[0]!r} is not key=value."
        return ""

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        overrides = []
        layer = self.parameterAsVectorLayer(parameters, self.STREETVIEW, context)
        if layer is not None:
            parts = layer.source().split("|")
            overrides.append(f"data.streetview={yaml_value(parts[0])}")
            name = next((p.split("=", 1)[1] for p in parts[1:] if p.startswith("layername=")),
                        None)
            if name:
                overrides.append(f"data.layer={yaml_value(name)}")
        rasters = self.parameterAsLayerList(parameters, self.OVERHEAD, context)
        if rasters:
            overrides.append(f"data.overhead={yaml_value([r.source() for r in rasters])}")
        steps = self.parameterAsInt(parameters, self.STEPS, context)
        if steps:
            overrides.append(f"train.steps={steps}")
        device = DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)]
        overrides.append(f"train.device={device}")
        out = self.parameterAsString(parameters, self.OUTPUT, context)
        overrides.append(f"output={yaml_value(out)}")
        overrides += shlex.split(self.parameterAsString(parameters, self.OVERRIDES, context))
        recipe = self.parameterAsFile(parameters, self.CONFIG, context) or \
            self.recipes[self.parameterAsEnum(parameters, self.RECIPE, context)]
        args = ["--config", recipe]
        if self.parameterAsBool(parameters, self.RESUME, context):
            args.append("--resume")
        return [*args, *overrides]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        return {self.OUTPUT: self.parameterAsString(parameters, self.OUTPUT, context)}
