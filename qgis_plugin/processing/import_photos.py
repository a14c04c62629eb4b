"""`geocontrast:import_photos`: a folder of geotagged JPEGs -> a validated street-view GeoPackage.

The engine reads the EXIF tags (GPS position, GPSImgDirection, DateTimeOriginal with its
offset) and writes the same normalised layer as `validate_layer`. Photos already in a
point layer (e.g. QGIS's own "Import geotagged photos" output): use `validate_layer`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFile,
    QgsProcessingParameterVectorDestination,
)

from .engine_algorithm import EngineAlgorithm

JPEG_SUFFIXES = {".jpg", ".jpeg"}


class ImportPhotosAlgorithm(EngineAlgorithm):
    """Runs `python -m engine import-photos --input FOLDER [--recursive] --out OUT.gpkg`."""

    COMMAND = "import-photos"
    NAME = "import_photos"
    DISPLAY_NAME = "Import geotagged photos"
    GROUP, GROUP_ID = "Data", "data"
    HELP = (
        "Reads the GPS position, camera direction and capture time from the EXIF tags of "
        "every JPEG in a folder and writes a validated street-view GeoPackage (EPSG:4326; "
        "fields image, captured_at, heading, location_id). Photos without a GPS position are "
        "counted, named in the log and left out. Photos already in a point layer: use "
        "'Validate street-view layer' instead."
    )

    FOLDER, RECURSIVE, OUTPUT = "FOLDER", "RECURSIVE", "OUTPUT"

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        folder = QgsProcessingParameterFile(
            self.FOLDER, self.tr("Folder of JPEG photos"),
            behavior=QgsProcessingParameterFile.Folder,
        )
        folder.setHelp(self.tr("Photos with GPS EXIF tags (.jpg/.jpeg)"))
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
        args = ["--input", self.parameterAsFile(parameters, self.FOLDER, context)]
        if self.parameterAsBool(parameters, self.RECURSIVE, context):
            args.append("--recursive")
        # Called once: each call on a temporary output makes a new file name.
        self._out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        return [*args, "--out", self._out]

    def collect_outputs(
        self, result: dict[str, Any], parameters: dict[str, Any],
        context: QgsProcessingContext, feedback: QgsProcessingFeedback,
    ) -> dict[str, Any]:
        skipped = int(result.get("skipped") or 0)
        if skipped:
            feedback.pushWarning(f"{skipped} photo(s) without a GPS position were left out.")
        return {self.OUTPUT: self._out, "ENGINE": result}
