"""`geocontrast:import_photos`: a folder of geotagged JPEGs -> a validated street-view GeoPackage.

The engine reads the EXIF tags (GPS position, GPSImgDirection, DateTimeOriginal with its
offset) and writes the same normalised layer as `validate_layer`. Photos already in a
point layer (e.g. QGIS's own "Import geotagged photos" output): use `validate_layer`.
360° panoramas (2:1, or tagged by the camera's XMP GPano) are cut into perspective views at
the chosen headings and field of view: one feature per view (the panorama options below map
to the engine's --panoramas, --view-headings, --view-fov, --view-reference).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from .engine_algorithm import EngineAlgorithm

JPEG_SUFFIXES = {".jpg", ".jpeg"}
# The engine's choices and defaults (engine.data.imagery_options; a contract test keeps them equal)
PANORAMA_MODES = ("auto", "all", "none")
VIEW_REFERENCES = ("pano", "north")
DEFAULT_VIEW_HEADINGS = "0,90,180,270"
DEFAULT_VIEW_FOV = 90.0


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
        "counted, named in the log and left out. 360° panoramas (2:1 equirectangular, or "
        "tagged as such by the camera) are cut into perspective views at the chosen headings "
        "and field of view (a true perspective projection, not a crop): one feature per view, "
        "with its compass heading, sharing the panorama's location_id. Photos already in a "
        "point layer: use 'Validate street-view layer' instead."
    )

    FOLDER, RECURSIVE, OUTPUT = "FOLDER", "RECURSIVE", "OUTPUT"
    PANORAMAS, VIEW_HEADINGS, VIEW_FOV = "PANORAMAS", "VIEW_HEADINGS", "VIEW_FOV"
    VIEW_REFERENCE = "VIEW_REFERENCE"

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
        self._add_panorama_params()
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Street-view layer"), type=QgsProcessing.TypeVectorPoint
        ))

    def _add_panorama_params(self) -> None:
        mode = QgsProcessingParameterEnum(
            self.PANORAMAS, self.tr("360° panoramas"),
            options=[self.tr("auto: cut 2:1 or tagged photos into views"),
                     self.tr("all: treat every photo as a panorama"),
                     self.tr("none: keep every photo whole")], defaultValue=0)
        mode.setHelp(self.tr("Which photos are equirectangular panoramas to cut into views"))
        self.addParameter(mode)
        headings = QgsProcessingParameterString(
            self.VIEW_HEADINGS, self.tr("Panorama view headings (degrees, comma-separated)"),
            defaultValue=DEFAULT_VIEW_HEADINGS)
        headings.setHelp(self.tr("One view per heading, relative to the panorama's centre "
                                 "(its compass angle) unless 'relative to north' is chosen"))
        self.addParameter(headings)
        self.addParameter(QgsProcessingParameterNumber(
            self.VIEW_FOV, self.tr("Panorama view field of view (degrees)"),
            QgsProcessingParameterNumber.Double, defaultValue=DEFAULT_VIEW_FOV, minValue=1.0,
            maxValue=170.0))
        reference = QgsProcessingParameterEnum(
            self.VIEW_REFERENCE, self.tr("View headings are relative to"),
            options=[self.tr("the panorama's centre (compass angle)"), self.tr("north")],
            defaultValue=0)
        reference.setFlags(reference.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(reference)

    def validate(self, parameters: dict[str, Any], context: QgsProcessingContext) -> str:
        folder = Path(self.parameterAsFile(parameters, self.FOLDER, context))
        if not folder.is_dir():
            return f"Photo folder {folder} does not exist."
        recursive = self.parameterAsBool(parameters, self.RECURSIVE, context)
        files = folder.rglob("*") if recursive else folder.iterdir()
        if not any(f.suffix.lower() in JPEG_SUFFIXES for f in files):
            return f"Photo folder {folder} holds no .jpg/.jpeg files" + (
                "." if recursive else " (tick 'Include sub-folders' to search below it).")
        headings = self.parameterAsString(parameters, self.VIEW_HEADINGS, context)
        try:
            if not [float(h) for h in headings.split(",") if h.strip()]:
                raise ValueError(headings)
        except ValueError:
            return (f"Panorama view headings {headings!r} are not degrees; write e.g. "
                    f"{DEFAULT_VIEW_HEADINGS}.")
        return ""

    def engine_args(
        self, parameters: dict[str, Any], context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        args = ["--input", self.parameterAsFile(parameters, self.FOLDER, context)]
        if self.parameterAsBool(parameters, self.RECURSIVE, context):
            args.append("--recursive")
        args += [
            "--panoramas", PANORAMA_MODES[self.parameterAsEnum(parameters, self.PANORAMAS,
                                                               context)],
            "--view-headings", self.parameterAsString(parameters, self.VIEW_HEADINGS,
                                                      context).replace(" ", ""),
            "--view-fov", repr(self.parameterAsDouble(parameters, self.VIEW_FOV, context)),
            "--view-reference", VIEW_REFERENCES[self.parameterAsEnum(
                parameters, self.VIEW_REFERENCE, context)],
        ]
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
        if result.get("panoramas"):
            feedback.pushInfo(f"{result['panoramas']} panorama(s) cut into {result['views']} "
                              "views.")
        return {self.OUTPUT: self._out}
