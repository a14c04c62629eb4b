"""`geocontrast:import_photos`: a folder of geotagged JPEGs -> a validated street-view GeoPackage.

QGIS reads the EXIF tags (native:importphotos: position, direction, timestamp); the engine
then validates and normalises the layer exactly as `validate_layer` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingMultiStepFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterVectorDestination,
    QgsProcessingUtils,
    QgsVectorLayer,
)

from .engine_algorithm import EngineAlgorithm

JPEG_SUFFIXES = {".jpg", ".jpeg"}


class ImportPhotosAlgorithm(EngineAlgorithm):
    """native:importphotos on a folder, then `python -m engine import-photos` on its output."""

    COMMAND = "import-photos"
    NAME = "import_photos"
    DISPLAY_NAME = "Import geotagged photos"
    GROUP, GROUP_ID = "Data", "data"
    HELP = (
        "Reads the GPS position, camera direction and capture time from the EXIF tags of "
        "every JPEG in a folder and writes a validated street-view GeoPackage (fields "
        "image, captured_at, heading, location_id). Photos without a GPS position are "
        "listed and left out. Photos already in a point layer: use 'Validate street-view "
        "layer' instead."
    )

    FOLDER, RECURSIVE, OUTPUT = "FOLDER", "RECURSIVE", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802
        folder = QgsProcessingParameterFile(
            self.FOLDER, self.tr("Folder of JPEG photos"),
            behavior=QgsProcessingParameterFile.Folder,
        )
        folder.setHelp(self.tr("Photos with GPS EXIF tags"))
        self.addParameter(folder)
        self.addParameter(QgsProcessingParameterBoolean(
            self.RECURSIVE, self.tr("Include sub-folders"), defaultValue=False
        ))
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Street-view layer"), type=QgsProcessing.TypeVectorPoint
        ))

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        folder = Path(self.parameterAsFile(parameters, self.FOLDER, context))
        if not folder.is_dir():
            return f"Photo folder {folder} does not exist."
        recursive = self.parameterAsBool(parameters, self.RECURSIVE, context)
        files = folder.rglob("*") if recursive else folder.iterdir()
        if not any(f.suffix.lower() in JPEG_SUFFIXES for f in files):
            return f"Photo folder {folder} holds no .jpg/.jpeg files" + (
                "." if recursive else " (tick 'Include sub-folders' to search below it).")
        return ""

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        import processing  # QGIS's Processing framework (always there when this runs)

        steps = QgsProcessingMultiStepFeedback(2, feedback)
        folder = Path(self.parameterAsFile(parameters, self.FOLDER, context))
        recursive = self.parameterAsBool(parameters, self.RECURSIVE, context)
        files = folder.rglob("*") if recursive else folder.iterdir()
        n_jpegs = sum(1 for f in files if f.suffix.lower() in JPEG_SUFFIXES)
        points = QgsProcessingUtils.generateTempFilename("exif_photos.gpkg")
        processing.run(
            "native:importphotos",
            {"FOLDER": str(folder), "RECURSIVE": recursive, "OUTPUT": points},
            context=context, feedback=steps, is_child_algorithm=True,
        )
        layer = QgsVectorLayer(points, "photos", "ogr")
        n_points = layer.featureCount() if layer.isValid() else 0
        if n_points <= 0:
            raise QgsProcessingException(
                f"No JPEG in {folder} has a GPS position in its EXIF tags. Geotag the photos "
                "(e.g. with exiftool), or make a point layer and use 'Validate street-view layer'."
            )
        if n_points < n_jpegs:
            feedback.pushWarning(f"{n_jpegs - n_points} of {n_jpegs} photos in {folder} have no "
                                 "GPS position in their EXIF tags and were left out.")
        steps.setCurrentStep(1)
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return ["--input", points, "--out", self._out]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        return {self.OUTPUT: self._out, "ENGINE": result}

