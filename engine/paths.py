"""Where relative paths in recipes and default outputs resolve: the project root.

The project root is $GEOCONTRAST_HOME when set, else the checkout that holds `engine/` and
`models/` (a source or editable install), else the current directory (an installed wheel).
A recipe therefore means the same thing wherever a command is started from.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "GEOCONTRAST_HOME"


def project_root() -> Path:
    """$GEOCONTRAST_HOME, else the checkout holding engine/ and models/, else the cwd."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return _checkout() or Path.cwd()


def _checkout() -> Path | None:
    """The source checkout this engine runs from (engine/ beside models/), None for a wheel."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "models").is_dir() and (checkout / "engine").is_dir():
        return checkout
    return None


def cache_dir() -> Path:
    """Where converted zoo weights and exported models are cached: models/pretrained under
    $GEOCONTRAST_HOME or a checkout; for an installed wheel (the QGIS plugin's engine) the
    user's cache folder ($XDG_CACHE_HOME or ~/.cache)/geocontrast, never the current
    directory, which for the plugin is wherever QGIS was started."""
    if os.environ.get(HOME_ENV) or _checkout() is not None:
        return project_root() / "models" / "pretrained"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "geocontrast"


def resolve_path(path: str | Path) -> Path:
    """Absolute paths as given; relative ones against the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
