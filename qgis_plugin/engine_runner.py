"""Run `<engine python> -m engine <command> ... --events jsonl` and follow its events.

The engine never loads inside QGIS: it is a child process in its own session (process
group), spoken to with JSON lines (engine/cli/events.py). Progress goes to a feedback
object (QgsProcessingFeedback or the QgsTask adapter in engine_task.py); cancel or a
timeout kills the whole process group; an engine error event becomes EngineRunError
carrying the engine's message and hint.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .settings import ENV_VAR, engine_python, engine_python_source

# Variables that must not leak from QGIS into the engine: QGIS's own PROJ/GDAL data
# and Python paths would make the engine's rasterio/pyproj/torch load the wrong files.
_STRIPPED_PREFIXES = ("PROJ_", "GDAL_")
_STRIPPED_NAMES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PROJ_LIB", "GDAL_DATA")
TERMINATE_GRACE_S = 2.0


class EngineRunError(Exception):
    """The engine reported an error, crashed, or could not start."""

    def __init__(self, message: str, hint: str = "", returncode: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.returncode = returncode

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class EngineCancelled(EngineRunError):
    """The user cancelled; the engine's process group was killed."""


class EngineTimeout(EngineRunError):
    """The engine ran past its time limit; its process group was killed."""


def child_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) without PROJ_*/GDAL_*/PYTHONPATH/PYTHONHOME."""
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key.startswith(_STRIPPED_PREFIXES) or key in _STRIPPED_NAMES:
            del env[key]
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


NO_ENGINE_HINT = (
    "run GeoContrast > Set up engine… (headless: the algorithm geocontrast:setup_engine), "
    "which installs the engine shipped in the plugin zip; or set GeoContrast > Engine "
    f"settings (or {ENV_VAR}) to the python of a venv with the engine installed")


def missing_engine_message(path: str, given: str | None = None) -> str:
    """Why there is no engine interpreter at `path`, naming where that path came from."""
    source = "given" if given else engine_python_source()
    if source == "env":
        return f"{ENV_VAR} names {path}, which does not exist; correct it or unset it"
    if source == "settings":
        return (f"GeoContrast > Engine settings name {path}, which does not exist; choose "
                "another python there, or clear it to use the set-up engine")
    if source == "given":
        return f"engine interpreter not found: {path}"
    return "no GeoContrast engine is set up yet"


def engine_cwd() -> str:
    """The engine's working directory: QGIS's own (relative paths typed in qgis_process or
    a model mean there what they mean to QGIS, which opened the layers from it), else home
    (QGIS's folder was deleted)."""
    try:
        return os.getcwd()
    except OSError:
        return str(Path.home())


def engine_argv(command: str, args: Sequence[str], python: str | None = None) -> list[str]:
    """The full command line for one engine subcommand with JSON-lines events."""
    python = python or engine_python()
    return [python, "-m", "engine", command, *map(str, args), "--events", "jsonl"]


def _reader(stream: Any, sink: Callable[[str], None]) -> None:
    for line in iter(stream.readline, ""):
        sink(line.rstrip("\r\n"))
    stream.close()


def _kill_group(proc: subprocess.Popen) -> None:
    """Terminate the engine's whole process group: SIGTERM, a short grace, then SIGKILL."""
    if os.name == "nt":  # no process groups to signal: kill the tree with taskkill
        if proc.poll() is not None:
            return
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + TERMINATE_GRACE_S
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    try:  # children that outlived the leader (data-loader workers) go too
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class _Progress:
    """Turns engine events into feedback calls."""

    def __init__(self, feedback: Any) -> None:
        self.feedback = feedback
        self.stage = ""

    def event(self, obj: dict[str, Any]) -> None:
        fb = self.feedback
        kind = obj.get("event")
        if kind == "progress":
            total = int(obj.get("total") or 0)
            done = int(obj.get("done") or 0)
            stage = str(obj.get("stage") or "")
            if fb is None:
                return
            if stage != self.stage:
                self.stage = stage
                fb.pushInfo(f"engine: {stage}")
            fb.setProgressText(f"{stage}: {done}/{total}" if total else stage)
            fb.setProgress(100.0 * done / total if total else 0.0)
        elif kind == "log" and fb is not None:
            level = str(obj.get("level", "info"))
            message = f"engine: {obj.get('message', '')}"
            if level in ("error", "critical"):
                fb.reportError(message, False)
            elif level == "warning":
                fb.pushWarning(message)
            elif level == "debug":
                fb.pushDebugInfo(message)
            else:
                fb.pushInfo(message)


def run_engine(
    command: str,
    args: Sequence[str] = (),
    feedback: Any = None,
    timeout_s: float | None = None,
    python: str | None = None,
    on_started: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run one engine command to the end and return its result `outputs` dict.

    `feedback` needs isCanceled/setProgress/setProgressText/pushInfo/pushWarning/
    pushDebugInfo/reportError (a QgsProcessingFeedback has them). Raises EngineRunError
    (engine error, crash, missing interpreter), EngineCancelled or EngineTimeout.
    """
    argv = engine_argv(command, args, python)
    if not Path(argv[0]).is_file():
        raise EngineRunError(missing_engine_message(argv[0], python), NO_ENGINE_HINT)
    if feedback is not None:
        feedback.pushCommandInfo(shlex.join(argv))  # copy-paste into a terminal
    popen_kw: dict[str, Any] = {}
    if os.name == "nt":
        popen_kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        popen_kw["start_new_session"] = True
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            env=child_environment(),
            cwd=engine_cwd(),
            **popen_kw,
        )
    except OSError as exc:
        raise EngineRunError(f"could not start the engine ({argv[0]}): {exc}") from exc
    if feedback is not None:
        feedback.pushDebugInfo(f"engine pid {proc.pid}")
    if on_started is not None:
        on_started(proc.pid)

    lines: queue.Queue[str | None] = queue.Queue()
    stderr_tail: deque[str] = deque(maxlen=40)
    out_thread = threading.Thread(target=_reader, args=(proc.stdout, lines.put), daemon=True)
    err_thread = threading.Thread(
        target=_reader, args=(proc.stderr, stderr_tail.append), daemon=True
    )
    out_thread.start()
    err_thread.start()
    return _follow(proc, command, lines, stderr_tail, (out_thread, err_thread), feedback, timeout_s)


def _follow(
    proc: subprocess.Popen,
    command: str,
    lines: queue.Queue,
    stderr_tail: deque,
    readers: tuple[threading.Thread, threading.Thread],
    feedback: Any,
    timeout_s: float | None,
) -> dict[str, Any]:
    progress = _Progress(feedback)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    started = time.monotonic()
    try:
        while True:
            if feedback is not None and feedback.isCanceled():
                _kill_group(proc)
                raise EngineCancelled(f"engine command '{command}' was cancelled")
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                _kill_group(proc)
                raise EngineTimeout(
                    f"engine command '{command}' did not finish within {timeout_s:g} s",
                    "raise the time limit, or make the job smaller (area, steps, batch size)",
                )
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                if not readers[0].is_alive() and lines.empty() and proc.poll() is not None:
                    break
                continue
            obj = _parse(line)
            if obj is None:
                if line.strip() and feedback is not None:
                    feedback.pushInfo(f"engine: {line}")
                continue
            if obj.get("event") == "result":
                result = obj.get("outputs") or {}
            elif obj.get("event") == "error":
                error = obj
            else:
                progress.event(obj)
    except BaseException:
        if proc.poll() is None:
            _kill_group(proc)
        raise
    returncode = proc.wait()
    readers[1].join(timeout=1.0)
    if error is not None:
        raise EngineRunError(
            str(error.get("message") or "engine error"), str(error.get("hint") or ""), returncode
        )
    if returncode != 0 or result is None:
        tail = " | ".join(ln for ln in list(stderr_tail)[-6:] if ln.strip())
        if "No module named engine" in tail:  # a Python without the engine installed
            raise EngineRunError(
                f"{proc.args[0]} is not a GeoContrast engine: it has no 'engine' package",
                NO_ENGINE_HINT, returncode)
        raise EngineRunError(
            f"engine command '{command}' failed with exit code {returncode}: {tail or 'no output'}",
            "run the same command in a terminal with -v for details",
            returncode,
        )
    if feedback is not None:
        feedback.setProgress(100.0)
    return result


def _parse(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) and "event" in obj else None
