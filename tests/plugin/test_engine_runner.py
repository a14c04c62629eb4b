"""engine_runner: clean child environment, JSON-lines events, errors, timeout, group kill."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from conftest import RecordingFeedback, wait_group_gone
from qgis.core import QgsSettings

from qgis_plugin import settings
from qgis_plugin.engine_runner import (
    EngineCancelled,
    EngineRunError,
    EngineTimeout,
    child_environment,
    run_engine,
)


def fake_engine(tmp_path, body: str) -> str:
    """An executable standing in for the engine interpreter (ignores its arguments)."""
    path = tmp_path / "fake-python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_child_environment_strips_qgis_paths():
    env = child_environment({"PROJ_DATA": "/qgis/proj", "PROJ_LIB": "x", "GDAL_DATA": "/g",
                             "GDAL_DRIVER_PATH": "/d", "PYTHONPATH": "/qgis/python",
                             "PYTHONHOME": "/h", "HOME": "/root", "PATH": "/bin"})
    assert env["HOME"] == "/root" and env["PATH"] == "/bin"
    assert not [k for k in env if k.startswith(("PROJ_", "GDAL_", "PYTHONPATH", "PYTHONHOME"))]
    assert env["PYTHONUNBUFFERED"] == "1"


def test_engine_python_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    QgsSettings().remove(settings.SETTINGS_KEY)
    assert settings.engine_python() == settings.default_engine_python()
    assert settings.default_engine_python().endswith(os.path.join(".venv", "bin", "python"))
    settings.set_engine_python("/opt/from-settings/python")
    try:
        assert settings.engine_python() == "/opt/from-settings/python"
        monkeypatch.setenv(settings.ENV_VAR, "/opt/from-env/python")
        assert settings.engine_python() == "/opt/from-env/python"
    finally:
        settings.set_engine_python("")
    monkeypatch.delenv(settings.ENV_VAR)
    assert settings.engine_python() == settings.default_engine_python()


def test_probe_real_engine(engine_python):
    probe = settings.probe_engine(engine_python)
    assert probe.ok, probe.message
    assert probe.message.startswith(f"engine found, torch {probe.torch}, device ")
    assert probe.device in ("cpu", "cuda")


def test_probe_missing_interpreter(tmp_path):
    probe = settings.probe_engine(str(tmp_path / "no-python"))
    assert not probe.ok and str(tmp_path / "no-python") in probe.message


def test_missing_interpreter_is_a_clear_error(tmp_path):
    with pytest.raises(EngineRunError, match="engine interpreter not found"):
        run_engine("sample-city", [], python=str(tmp_path / "nope"))


def test_missing_engine_errors_say_where_the_path_came_from(tmp_path, monkeypatch):
    """The error names the setting that points nowhere, or says nothing is set up: never the
    checkout's .venv path a zip install has no use for."""
    monkeypatch.setenv(settings.ENV_VAR, str(tmp_path / "gone" / "python"))
    with pytest.raises(EngineRunError) as info:
        run_engine("sample-city", [])
    assert info.value.message.startswith(f"{settings.ENV_VAR} names {tmp_path}")
    assert "Set up engine" in info.value.hint
    monkeypatch.delenv(settings.ENV_VAR)
    monkeypatch.setattr(settings, "_settings_value", lambda: "")
    monkeypatch.setattr(settings, "default_engine_python", lambda: str(tmp_path / "no-venv"))
    monkeypatch.setattr("qgis_plugin.engine_setup.managed_python", lambda: "")
    with pytest.raises(EngineRunError) as info:
        run_engine("sample-city", [])
    assert info.value.message == "no GeoContrast engine is set up yet"
    assert "no-venv" not in str(info.value)
    probe = settings.probe_engine()
    assert not probe.ok and probe.message.startswith("no GeoContrast engine is set up yet")


def test_a_python_without_the_engine_is_named_as_such(tmp_path, monkeypatch):
    """A plain Python chosen as the engine: say so and how to fix it, not 'No module named'."""
    monkeypatch.chdir(tmp_path)  # the engine's cwd: no checkout to import `engine` from
    python = sys.executable
    with pytest.raises(EngineRunError) as info:
        run_engine("sample-city", [], python=python)
    assert info.value.message == f"{python} is not a GeoContrast engine: it has no 'engine' package"
    assert "Set up engine" in info.value.hint and "Engine settings" in info.value.hint


def test_engine_error_event_carries_message_and_hint(engine_python, tmp_path):
    feedback = RecordingFeedback()
    with pytest.raises(EngineRunError) as info:
        run_engine("import-photos", ["--input", str(tmp_path / "missing.gpkg"),
                                     "--out", str(tmp_path / "o.gpkg")], feedback)
    assert "missing.gpkg does not exist" in info.value.message
    assert info.value.hint and info.value.returncode == 2
    assert feedback.pid is not None and not wait_group_gone(feedback.pid)


def test_progress_logs_and_result(tmp_path):
    python = fake_engine(tmp_path, """
echo '{"event": "progress", "done": 1, "total": 4, "stage": "embed"}'
echo 'a stray line'
echo '{"event": "log", "level": "warning", "message": "careful"}'
echo '{"event": "result", "outputs": {"n": 3}}'""")
    feedback = RecordingFeedback()
    assert run_engine("embed", ["--x", "1"], feedback, python=python) == {"n": 3}
    assert "engine: embed" in feedback.messages
    assert "engine: a stray line" in feedback.messages
    assert "warning: engine: careful" in feedback.messages
    assert feedback.progress() == 100.0


def test_crash_without_error_event_reports_stderr(tmp_path):
    python = fake_engine(tmp_path, "echo 'Traceback: boom' >&2; exit 3")
    with pytest.raises(EngineRunError, match="exit code 3.*boom") as info:
        run_engine("embed", [], python=python)
    assert info.value.returncode == 3


def test_timeout_kills_the_whole_group(tmp_path):
    python = fake_engine(tmp_path, """
sleep 60 &
echo '{"event": "progress", "done": 0, "total": 1, "stage": "train"}'
sleep 60""")
    feedback = RecordingFeedback()
    with pytest.raises(EngineTimeout, match="did not finish within 1 s") as info:
        run_engine("train", [], feedback, timeout_s=1.0, python=python)
    assert "time limit" in info.value.hint
    assert "engine: train" in feedback.messages  # it was running (not stuck at start) when killed
    assert feedback.pid is not None and wait_group_gone(feedback.pid) == []  # child sleep too


def test_cancel_kills_the_whole_group(tmp_path):
    python = fake_engine(tmp_path, """
sleep 60 &
echo '{"event": "progress", "done": 1, "total": 9, "stage": "train"}'
sleep 60""")
    feedback = RecordingFeedback(cancel_on_progress=True)
    with pytest.raises(EngineCancelled):
        run_engine("train", [], feedback, python=python)
    assert feedback.pid is not None and wait_group_gone(feedback.pid) == []
