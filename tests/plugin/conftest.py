"""Plugin tests: real QGIS 3.22 (pytest-qgis, offscreen) and the real engine subprocess."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


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


@pytest.fixture()
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
