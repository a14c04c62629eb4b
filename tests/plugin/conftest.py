"""Plugin tests: real QGIS 3.22 (pytest-qgis, offscreen) and the real engine subprocess."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from qgis.core import QgsProcessingFeedback

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


class RecordingFeedback(QgsProcessingFeedback):
    """Keeps what the runner reports; can cancel itself at the first progress event."""

    def __init__(self, cancel_on_progress: bool = False) -> None:
        super().__init__()
        self.messages: list[str] = []
        self.pid: int | None = None
        self.cancel_on_progress = cancel_on_progress
        self.canceled_at: float | None = None
        self.progressChanged.connect(self._on_progress)

    def _on_progress(self, value: float) -> None:
        if self.cancel_on_progress:
            self.cancel_now()

    def cancel_now(self) -> None:
        """Cancel (once) and note when, so a test can time how fast the engine stops."""
        if not self.isCanceled():
            self.canceled_at = time.monotonic()
            self.cancel()

    def cancel_later(self, delay_s: float) -> threading.Timer:
        """Cancel from another thread after `delay_s` (as the Cancel button would)."""
        timer = threading.Timer(delay_s, self.cancel_now)
        timer.start()
        return timer

    def pushInfo(self, text: str) -> None:
        self.messages.append(text)

    def pushWarning(self, text: str) -> None:
        self.messages.append("warning: " + text)

    def pushDebugInfo(self, text: str) -> None:
        if text.startswith("engine pid "):
            self.pid = int(text.split()[-1])


def group_alive(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in process group `pgid`, by a /proc scan."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            alive.append(int(entry.name))
    return alive


def wait_group_gone(pgid: int, within_s: float = 5.0) -> list[int]:
    """Poll until no live process is left in group `pgid`; returns the survivors (if any)."""
    deadline = time.monotonic() + within_s
    while (alive := group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


@pytest.fixture()
def clean_project(qgis_iface):
    """An empty project before and after (QGIS segfaults at exit with layers left)."""
    from qgis.core import QgsProject

    QgsProject.instance().removeAllMapLayers()
    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()


@pytest.fixture(scope="session")
def engine_python() -> str:
    """The engine interpreter the plugin will use (the repo's .venv unless overridden)."""
    from qgis_plugin.settings import engine_python as resolve

    python = resolve()
    if not os.path.isfile(python):
        pytest.fail(f"engine interpreter {python} missing: run `make setup-engine`")
    return python


@pytest.fixture()
def geocontrast_provider(qgis_processing):
    """The `geocontrast` provider, registered for one test."""
    from qgis.core import QgsApplication

    from qgis_plugin.processing.provider import GeoContrastProvider

    registry = QgsApplication.processingRegistry()
    provider = GeoContrastProvider()
    assert registry.addProvider(provider)
    yield provider
    registry.removeProvider(provider)


@pytest.fixture(scope="session")
def small_city(tmp_path_factory) -> Path:
    """The small sample city (seed 0), made once per session by the real engine subprocess."""
    from qgis_plugin.engine_runner import run_engine

    out = tmp_path_factory.mktemp("small_city")
    run_engine("sample-city", ["--out", str(out), "--preset", "small", "--seed", "0"])
    return out


def write_gpkg(layer, path: Path, name: str) -> str:
    """Save a (memory) QgsVectorLayer as a real GeoPackage layer; returns the file path."""
    from qgis.core import QgsProject, QgsVectorFileWriter

    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = name
    if path.exists():
        options.actionOnExistingFile = QgsVectorFileWriter.CreateOrOverwriteLayer
    error = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, str(path), QgsProject.instance().transformContext(), options)
    assert error[0] == QgsVectorFileWriter.NoError, error
    return str(path)


def tiny_geotiff(path: Path, bands: int = 3, size: int = 32, origin=(328000.0, 4421400.0),
                 res: float = 1.0, epsg: int = 32617) -> str:
    """A small real GeoTIFF (GDAL) in a projected CRS."""
    import numpy as np
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, bands, gdal.GDT_Float32)
    ds.SetGeoTransform((origin[0], res, 0.0, origin[1], 0.0, -res))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds.SetProjection(srs.ExportToWkt())
    rng = np.random.default_rng(0)
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(rng.random((size, size)).astype("float32"))
    ds = None
    return str(path)
