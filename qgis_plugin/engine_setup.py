"""Set up the engine from the plugin zip: a venv outside QGIS, pip-installed from engine_dist/.

The zip ships the engine as a wheel plus constraints.txt (the exact pins) under
`engine_dist/`. Set-up creates a virtual environment with the system Python (never QGIS's
own site-packages: torch must not load inside QGIS) in the QGIS profile's `geocontrast/`
folder, outside the plugin folder so updating the plugin keeps it, then runs
`pip install -c constraints.txt <wheel>`. Where pip gets packages from is pip's own
configuration (pip.conf, PIP_* variables): the plugin names no package index. A marker file
written last makes the venv count as ready, so a cancelled or failed set-up is never used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .settings import PLUGIN_DIR, EngineProbe, probe_engine

ENGINE_DIST = PLUGIN_DIR / "engine_dist"
READY_MARKER = ".geocontrast-ready"
VENV_NAME = "engine-venv"
MIN_PYTHON = (3, 10)


class SetupError(Exception):
    """Set-up failed or was cancelled; the message says which step and why."""


def venv_python(venv: Path) -> Path:
    """The interpreter inside a venv folder."""
    if sys.platform.startswith("win"):
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def managed_venv_dir() -> Path:
    """<QGIS profile>/geocontrast/engine-venv (outside the plugin folder), or a user folder
    when QGIS is not running (~/.local/share/geocontrast/engine-venv)."""
    try:
        from qgis.core import QgsApplication

        profile = QgsApplication.qgisSettingsDirPath()
    except ImportError:
        profile = ""
    if profile:
        return Path(profile) / "geocontrast" / VENV_NAME
    return Path.home() / ".local" / "share" / "geocontrast" / VENV_NAME


def managed_python() -> str:
    """The set-up venv's python when set-up finished, else ""."""
    venv = managed_venv_dir()
    python = venv_python(venv)
    return str(python) if (venv / READY_MARKER).is_file() and python.is_file() else ""


def engine_wheel() -> Path | None:
    """The engine wheel shipped in the zip (None in a checkout that never ran `make plugin`)."""
    wheels = sorted(ENGINE_DIST.glob("geocontrast-*.whl"))
    return wheels[-1] if wheels else None


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys, venv; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def system_python() -> str:
    """A Python >= 3.10 with venv to build the engine's venv from ("" when none is found).

    Inside QGIS sys.executable is often QGIS itself; the interpreter QGIS embeds lives at
    sys.base_prefix, and `python3` on the PATH is the next choice.
    """
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    base = Path(sys.base_prefix)
    candidates = [base / "bin" / minor, base / "bin" / "python3", base / "python.exe",
                  shutil.which(minor), shutil.which("python3"), shutil.which("python")]
    for cand in candidates:
        if cand and Path(cand).is_file():
            version = _version(str(cand))
            if version is not None and version >= MIN_PYTHON:
                return str(cand)
    return ""


def _clean_env() -> dict[str, str]:
    from .engine_runner import child_environment

    env = child_environment()
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONNOUSERSITE", None)
    return env


def setup_commands(python: str, venv: Path, wheel: Path) -> list[tuple[str, list[str]]]:
    """(stage, argv) of the set-up: create the venv, then pip-install the pinned engine."""
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--progress-bar", "off",
           "--disable-pip-version-check", "-c", str(wheel.parent / "constraints.txt"),
           str(wheel)]
    return [("create venv", [python, "-m", "venv", "--clear", str(venv)]),
            ("pip install", pip)]


_COLLECTING = re.compile(r"^(Collecting|Processing|Requirement already satisfied:?)\s+(\S+)")


def _stream(argv: list[str], feedback: Any, stage: str, base: float, span: float,
            on_line: Callable[[str], None] | None = None) -> None:
    """Run argv, pushing each output line to feedback; kill its group on cancel."""
    from .engine_runner import _kill_group

    feedback.pushCommandInfo(" ".join(argv))
    kw: dict[str, Any] = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
                          if os.name == "nt" else {"start_new_session": True})
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                            env=_clean_env(), **kw)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(ln.rstrip()) for ln in proc.stdout],
                              daemon=True)
    reader.start()
    try:
        _follow(proc, reader, lines, feedback, stage, base, span, on_line)
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        reader.join(timeout=5)
        proc.stdout.close()
    if proc.returncode != 0:
        tail = " | ".join(ln for ln in lines[-4:] if ln.strip())
        raise SetupError(f"{stage} failed (exit code {proc.returncode}): {tail}")


def _follow(proc: subprocess.Popen, reader: threading.Thread, lines: list[str], feedback: Any,
            stage: str, base: float, span: float,
            on_line: Callable[[str], None] | None) -> None:
    """Pass pip's lines to feedback as they come; progress by packages seen; cancel."""
    from .engine_runner import _kill_group

    seen, packages = 0, 0
    while True:
        # looked at before the lines are shown: a reader that ends between showing them and a
        # later look would leave its last lines unshown (and a cancel raised on them unseen)
        ended = proc.poll() is not None and not reader.is_alive()
        while seen < len(lines):
            line = lines[seen]
            seen += 1
            if not line.strip():
                continue
            feedback.pushConsoleInfo(line)
            if on_line is not None:
                on_line(line)
            match = _COLLECTING.match(line)
            if match:  # about 40 packages: the bar creeps towards the end of the stage
                packages += 1
                feedback.setProgressText(f"{stage}: {match.group(2)}")
                feedback.setProgress(base + span * (1 - 0.95 ** packages))
            elif line.startswith("Installing collected packages"):
                feedback.setProgressText(f"{stage}: unpacking {packages} packages")
                feedback.setProgress(base + span * 0.9)
        if feedback.isCanceled():  # checked after the lines, so a cancel during the last counts
            _kill_group(proc)
            raise SetupError(f"set-up cancelled during {stage}")
        if ended:
            break
        time.sleep(0.1)


def _swap_in(new: Path, venv: Path, old: Path) -> EngineProbe:
    """Move the checked venv `new` to `venv` (the engine in use moved aside to `old`), check
    it runs there; if it does not, put the old engine back and raise SetupError."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    if venv.exists():
        os.replace(venv, old)
    os.replace(new, venv)
    probe = probe_engine(str(venv_python(venv)))
    if not probe.ok:
        shutil.rmtree(venv, ignore_errors=True)
        if old.exists():
            os.replace(old, venv)
        raise SetupError(f"the engine does not run once moved to {venv}: {probe.message}; "
                         "the engine set up before is kept")
    return probe


def install_engine(feedback: Any, venv: Path | None = None, python: str | None = None,
                   wheel: Path | None = None) -> EngineProbe:
    """Create the engine venv and install the shipped engine into it; then check it.

    `feedback` is a QgsProcessingFeedback (or the same methods). Raises SetupError with a
    one-line reason; on failure or cancel the half-made venv is removed and an engine set up
    before stays as it was.
    """
    venv = venv or managed_venv_dir()
    wheel = wheel or engine_wheel()
    if wheel is None or not (wheel.parent / "constraints.txt").is_file():
        raise SetupError(f"no engine wheel in {ENGINE_DIST}: install the plugin from the zip "
                         "that `make plugin` builds (it ships the engine)")
    python = python or system_python()
    if not python:
        raise SetupError("no Python 3.10+ with the venv module found; install python3-venv "
                         "(Debian/Ubuntu) or Python from python.org, then run set-up again")
    started = time.monotonic()
    # built beside the engine in use, which stays usable until the new one runs: a failed or
    # cancelled set-up leaves the old engine as it was
    new, old = venv.with_name(venv.name + ".new"), venv.with_name(venv.name + ".old")
    for leftover in (new, old):
        shutil.rmtree(leftover, ignore_errors=True)
    steps = setup_commands(python, new, wheel)
    spans = ((0.0, 5.0), (5.0, 85.0))
    try:
        for (stage, argv), (base, span) in zip(steps, spans, strict=True):
            feedback.pushInfo(f"GeoContrast set-up: {stage}")
            _stream(argv, feedback, stage, base, span)
        feedback.setProgressText("checking the engine")
        feedback.setProgress(92.0)
        probe = probe_engine(str(venv_python(new)))
        if feedback.isCanceled():  # raised after pip had exited (a fast pip), or during the check
            raise SetupError("set-up cancelled during the engine check")
        if not probe.ok:
            raise SetupError(f"the engine was installed but does not run: {probe.message}")
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    probe = _swap_in(new, venv, old)
    (venv / READY_MARKER).write_text(f"{wheel.name}\n", encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    feedback.setProgress(100.0)
    feedback.pushInfo(f"GeoContrast set-up: {probe.message} ({time.monotonic() - started:.0f} s,"
                      f" {venv})")
    return probe
