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
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "models").is_dir() and (checkout / "engine").is_dir():
        return checkout
    return Path.cwd()


def resolve_path(path: str | Path) -> Path:
    """Absolute paths as given; relative ones against the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
