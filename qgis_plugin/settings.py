"""Which Python runs the engine, and a quick check that it works.

Resolution order: the GEOCONTRAST_ENGINE_PYTHON environment variable (a session-wide
override), then the QgsSettings key `geocontrast/engine_python` (set in the plugin's
settings dialog), then a checkout's `.venv` next to the plugin folder when it exists, then
the venv made by *GeoContrast → Set up engine…* (engine_setup.py) when it is ready.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "GEOCONTRAST_ENGINE_PYTHON"
SETTINGS_KEY = "geocontrast/engine_python"
PLUGIN_DIR = Path(__file__).resolve().parent

# Runs inside the engine's interpreter: prints one JSON line about torch and the engine.
_PROBE = """
import json, sys
info = {"python": sys.version.split()[0]}
try:
    import engine  # noqa: F401
    info["engine"] = True
except Exception as exc:
    info["engine"] = repr(exc)
try:
    import torch
    info["torch"] = torch.__version__
    info["cuda"] = bool(torch.cuda.is_available())
    info["gpu"] = torch.cuda.get_device_name(0) if info["cuda"] else ""
except Exception as exc:
    info["torch"] = None
    info["torch_error"] = repr(exc)
print(json.dumps(info))
"""


def default_engine_python() -> str:
    """The interpreter of the repository's `.venv` (the plugin folder's sibling)."""
    venv = PLUGIN_DIR.parent / ".venv"
    if sys.platform.startswith("win"):
        return str(venv / "Scripts" / "python.exe")
    return str(venv / "bin" / "python")


def _settings_value() -> str:
    try:
        from qgis.core import QgsSettings
    except ImportError:  # outside QGIS (e.g. engine-side tooling): no settings store
        return ""
    value = QgsSettings().value(SETTINGS_KEY, "", type=str)
    return str(value or "").strip()


def _engine_python() -> tuple[str, str]:
    """(interpreter, where it comes from: env, settings, checkout, managed or none)."""
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return from_env, "env"
    chosen = _settings_value()
    if chosen:
        return chosen, "settings"
    checkout = default_engine_python()
    if Path(checkout).is_file():
        return checkout, "checkout"
    from .engine_setup import managed_python

    managed = managed_python()
    return (managed, "managed") if managed else (checkout, "none")


def engine_python() -> str:
    """The engine interpreter to use now: env var, QgsSettings, a checkout's .venv, the set-up
    venv; when none exists, the checkout path (which does not exist: the errors then say that
    no engine is set up, engine_runner.missing_engine_message)."""
    return _engine_python()[0]


def engine_python_source() -> str:
    """Where engine_python() comes from: "env", "settings", "checkout", "managed" or "none"."""
    return _engine_python()[1]


def set_engine_python(path: str) -> None:
    """Store the engine interpreter in QgsSettings (empty string = back to the default)."""
    from qgis.core import QgsSettings

    settings = QgsSettings()
    if path.strip():
        settings.setValue(SETTINGS_KEY, path.strip())
    else:
        settings.remove(SETTINGS_KEY)


@dataclass(frozen=True)
class EngineProbe:
    """The outcome of `probe_engine`: ok, a one-line message, and the raw facts."""

    ok: bool
    message: str
    python: str
    torch: str = ""
    device: str = ""


def probe_engine(python: str | None = None, timeout_s: float = 120.0) -> EngineProbe:
    """Run the engine interpreter with a tiny probe: "engine found, torch X, device cpu"."""
    from .engine_runner import (
        NO_ENGINE_HINT,
        child_environment,
        engine_cwd,
        missing_engine_message,
    )

    given = python
    python = python or engine_python()
    if not Path(python).is_file():
        return EngineProbe(
            False, f"{missing_engine_message(python, given)}. To fix: {NO_ENGINE_HINT}.", python)
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=child_environment(),
            cwd=engine_cwd(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return EngineProbe(False, f"could not run {python}: {exc}", python)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return EngineProbe(False, f"{python} failed: {' | '.join(tail)}", python)
    info = json.loads(lines[-1])
    if info.get("engine") is not True:
        return EngineProbe(
            False,
            f"{python} runs, but the engine package is missing ({info.get('engine')}); "
            "run GeoContrast > Set up engine…, or `pip install -e .` there from a checkout.",
            python,
        )
    if not info.get("torch"):
        return EngineProbe(
            False, f"engine found, but torch does not import: {info.get('torch_error')}", python
        )
    device = "cuda" if info.get("cuda") else "cpu"
    message = f"engine found, torch {info['torch']}, device {device}"
    if info.get("gpu"):
        message += f" ({info['gpu']})"
    return EngineProbe(True, message, python, str(info["torch"]), device)
