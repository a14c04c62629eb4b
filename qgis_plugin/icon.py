"""One SVG icon per action and algorithm (icons/<name>.svg), the plugin icon as the fallback."""

from __future__ import annotations

from pathlib import Path

from qgis.PyQt.QtGui import QIcon

ICONS = Path(__file__).resolve().parent / "icons"
PLUGIN_ICON = ICONS / "geocontrast.svg"


def icon_path(name: str) -> Path:
    """icons/<name>.svg when shipped, else the plugin icon."""
    path = ICONS / f"{name}.svg"
    return path if path.is_file() else PLUGIN_ICON


def icon_for(name: str) -> QIcon:
    """The QIcon of an action or algorithm by its name (e.g. "zero_shot_map")."""
    return QIcon(str(icon_path(name)))
