"""`geocontrast:setup_engine`: install the engine shipped in the plugin zip into its own venv.

The headless twin of *GeoContrast → Set up engine…* (qgis_process, scripts, tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputString,
    QgsProcessingParameterFile,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..engine_setup import SetupError, install_engine, managed_venv_dir
from ..icon import icon_for


class SetupEngineAlgorithm(QgsProcessingAlgorithm):
    """Runs venv + `pip install -c constraints.txt <engine wheel>`, then the engine check."""

    PYTHON, ENGINE_PYTHON, MESSAGE = "PYTHON", "ENGINE_PYTHON", "MESSAGE"

    def tr(self, text: str) -> str:
        return QCoreApplication.translate("GeoContrast", text)

    def name(self) -> str:
        return "setup_engine"

    def displayName(self) -> str:
        return self.tr("Set up engine")

    def group(self) -> str:
        return self.tr("Engine")

    def groupId(self) -> str:
        return "engine"

    def icon(self) -> Any:
        return icon_for("setup")

    def shortHelpString(self) -> str:
        return self.tr(
            f"Creates a Python virtual environment in {managed_venv_dir()} (outside QGIS and "
            "its plugin folder) and installs the GeoContrast engine shipped in the plugin zip "
            "with its exact pinned dependencies (PyTorch included: about 2-3 GB with the CUDA "
            "libraries on Linux). Packages come from wherever pip is configured to look. "
            "Then checks that the engine runs. A checkout's .venv or "
            "GEOCONTRAST_ENGINE_PYTHON still takes precedence.")

    def createInstance(self) -> SetupEngineAlgorithm:
        return type(self)()

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.PYTHON, self.tr("Python to build the venv with (empty: found automatically)"),
            optional=True, fileFilter="All files (*)"))  # interpreters have no extension
        self.addOutput(QgsProcessingOutputFile(self.ENGINE_PYTHON, self.tr("Engine python")))
        self.addOutput(QgsProcessingOutputString(self.MESSAGE, self.tr("Engine check")))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        python = self.parameterAsFile(parameters, self.PYTHON, context) or None
        try:
            probe = install_engine(feedback, python=python)
        except SetupError as exc:
            raise QgsProcessingException(f"GeoContrast set-up: {exc}") from exc
        return {self.ENGINE_PYTHON: str(Path(probe.python)), self.MESSAGE: probe.message}
