"""The `geocontrast` Processing provider: one algorithm per engine command."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..icon import PLUGIN_ICON
from .demo import DemoAlgorithm
from .embed_locations import EmbedLocationsAlgorithm
from .embed_points import EmbedPointsAlgorithm
from .embed_raster import EmbedRasterAlgorithm
from .evaluate import EvaluateAlgorithm
from .fewshot_map import FewShotMapAlgorithm
from .fit_head import FitHeadAlgorithm
from .fused_map import FusedMapAlgorithm
from .import_photos import ImportPhotosAlgorithm
from .location_map import LocationMapAlgorithm
from .predict_map import PredictMapAlgorithm
from .pretrain import PretrainAlgorithm
from .sample_city import SampleCityAlgorithm
from .setup_engine import SetupEngineAlgorithm
from .similarity_map import SimilarityMapAlgorithm
from .validate_layer import ValidateLayerAlgorithm
from .zero_shot_map import ZeroShotMapAlgorithm

ALGORITHMS = (
    SampleCityAlgorithm, ValidateLayerAlgorithm, ImportPhotosAlgorithm, DemoAlgorithm,
    PretrainAlgorithm, FitHeadAlgorithm,  # learn
    EmbedPointsAlgorithm, EmbedRasterAlgorithm, EmbedLocationsAlgorithm,  # embed
    ZeroShotMapAlgorithm, SimilarityMapAlgorithm, FewShotMapAlgorithm,  # map
    LocationMapAlgorithm, PredictMapAlgorithm, FusedMapAlgorithm,
    EvaluateAlgorithm,  # evaluate
)  # each one engine command; SetupEngineAlgorithm (no engine yet) comes on top


class GeoContrastProvider(QgsProcessingProvider):
    """Algorithms that drive the GeoContrast engine subprocess (ids `geocontrast:<name>`)."""

    def id(self) -> str:
        return "geocontrast"

    def name(self) -> str:
        return "GeoContrast"

    def longName(self) -> str:
        return "GeoContrast: geo-aware self-supervised image representations"

    def icon(self) -> QIcon:
        return QIcon(str(PLUGIN_ICON))

    def supportsNonFileBasedOutput(self) -> bool:
        return False  # the engine writes files: no memory-layer outputs

    def supportedOutputVectorLayerExtensions(self) -> list[str]:
        return ["gpkg"]

    def supportedOutputRasterLayerExtensions(self) -> list[str]:
        return ["tif"]

    def defaultVectorFileExtension(self, hasGeometry: bool = True) -> str:
        return "gpkg"

    def defaultRasterFileExtension(self) -> str:
        return "tif"

    def loadAlgorithms(self) -> None:
        for algorithm in (*ALGORITHMS, SetupEngineAlgorithm):
            self.addAlgorithm(algorithm())
