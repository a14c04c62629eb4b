"""Set up engine: a real venv and a real pip run (a small local wheel here; the full engine
with torch in test_zip_install.py), streamed into the feedback; a failed or cancelled set-up
leaves nothing the plugin would use; what the plugin picks as the engine afterwards."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, RecordingFeedback

from qgis_plugin import engine_setup
from qgis_plugin.engine_setup import READY_MARKER, SetupError, install_engine, venv_python


def small_wheel(folder: Path) -> Path:
    """A wheel named like the engine's, holding an `engine` package without torch, and an
    empty constraints.txt beside it (the layout of the zip's engine_dist/)."""
    folder.mkdir(parents=True)
    (folder / "constraints.txt").write_text("")
    wheel = folder / "geocontrast-0.0.1-py3-none-any.whl"
    info = "geocontrast-0.0.1.dist-info"
    files = {"engine/__init__.py": "", f"{info}/METADATA":
             "Metadata-Version: 2.1\nName: geocontrast\nVersion: 0.0.1\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


class CancelAtPip(RecordingFeedback):
    """Cancels when pip prints a line starting with `at` ("" = its first line)."""

    def __init__(self, at: str = "") -> None:
        super().__init__()
        self.at = at

    def pushConsoleInfo(self, text: str) -> None:
        self.messages.append(text)
        if text.startswith(self.at):
            self.cancel()


@pytest.fixture()
def feedback():
    fb = RecordingFeedback()
    fb.pushConsoleInfo = fb.messages.append
    fb.pushCommandInfo = fb.messages.append
    return fb


def test_no_wheel_is_a_clear_error(tmp_path, feedback):
    with pytest.raises(SetupError, match="no engine wheel"):
        install_engine(feedback, venv=tmp_path / "venv", wheel=None)


def test_failed_setup_streams_pip_and_leaves_no_engine(tmp_path, feedback):
    wheel = small_wheel(tmp_path / "engine_dist")
    venv = tmp_path / "venv"
    with pytest.raises(SetupError, match="torch does not import"):
        install_engine(feedback, venv=venv, wheel=wheel)
    assert any("Successfully installed geocontrast-0.0.1" in m for m in feedback.messages)
    assert not venv.exists()  # half-made: removed, never picked up as the engine


def test_a_failed_reinstall_keeps_the_engine_set_up_before(tmp_path, feedback):
    """Set-up builds beside the engine in use: a failure leaves that engine as it was."""
    wheel = small_wheel(tmp_path / "engine_dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / READY_MARKER).write_text("geocontrast-0.1.0-py3-none-any.whl\n")
    before = sorted(str(p.relative_to(venv)) for p in venv.rglob("*"))
    with pytest.raises(SetupError, match="torch does not import"):
        install_engine(feedback, venv=venv, wheel=wheel)
    assert sorted(str(p.relative_to(venv)) for p in venv.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine_dist", "venv"]
    with pytest.raises(SetupError, match="create venv failed"):  # a Python that fails
        install_engine(feedback, venv=venv, wheel=wheel, python="/bin/false")
    assert (venv / READY_MARKER).is_file() and venv_python(venv).exists()


@pytest.mark.parametrize("at", ["", "Successfully installed"])
def test_cancel_kills_pip_and_cleans_up(tmp_path, at):
    """A cancel counts wherever it lands, on pip's last line too (pip may have exited by the
    time that line is shown: the set-up still stops there, it never goes on to the check)."""
    wheel = small_wheel(tmp_path / "engine_dist")
    venv = tmp_path / "venv"
    with pytest.raises(SetupError, match="cancelled during pip install"):
        install_engine(CancelAtPip(at), venv=venv, wheel=wheel)
    assert not venv.exists()


class CancelAtCheck(RecordingFeedback):
    """Cancels once pip has exited, as the set-up turns to checking the engine."""

    def setProgressText(self, text: str) -> None:
        if text == "checking the engine":
            self.cancel()


def test_cancel_after_pip_exited_stops_before_the_engine_is_ready(tmp_path):
    """A cancel that comes once pip has exited (no command left to kill) still stops the
    set-up: no ready engine, the venv removed (not a set-up reported done after a cancel)."""
    wheel = small_wheel(tmp_path / "engine_dist")
    venv = tmp_path / "venv"
    with pytest.raises(SetupError, match="cancelled during the engine check"):
        install_engine(CancelAtCheck(), venv=venv, wheel=wheel)
    assert not venv.exists()


def test_cancel_on_the_last_line_of_a_finished_command_counts():
    """The command has printed its one line and exited before the line is shown: the cancel
    raised while showing it still stops the set-up (the race CI met with a fast pip)."""
    with pytest.raises(SetupError, match="cancelled during pip install"):
        engine_setup._stream([sys.executable, "-c", "print('Successfully installed x')"],
                             CancelAtPip(), "pip install", 5.0, 85.0)


class EndsAfterTheDrain:
    """A reader thread that adds the command's last line and ends just after the set-up has
    shown the lines it had: the window a fast pip opens when it exits on its last line."""

    def __init__(self, lines: list[str], last: str) -> None:
        self.lines, self.last = lines, last

    def is_alive(self) -> bool:
        if self.last:
            self.lines.append(self.last)
            self.last = ""
        return False


def test_a_last_line_added_as_the_reader_ends_is_shown_and_its_cancel_counts():
    """The command has exited; its reader adds the last line and ends between the set-up's
    showing of the lines and its look at the reader: that line is still shown, and the cancel
    raised while showing it still stops the set-up (forced here, a race on a fast machine)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert proc.wait() == 0  # exited: only its reader's last line is left
    lines: list[str] = []
    feedback = CancelAtPip("Successfully installed")
    with pytest.raises(SetupError, match="cancelled during pip install"):
        engine_setup._follow(proc, EndsAfterTheDrain(lines, "Successfully installed x"), lines,
                             feedback, "pip install", 5.0, 85.0, None)
    assert feedback.messages == ["Successfully installed x"]


def test_the_engine_the_plugin_picks(tmp_path, monkeypatch):
    from qgis_plugin import settings

    managed = tmp_path / "profile" / "geocontrast" / "engine-venv"
    monkeypatch.setattr(engine_setup, "managed_venv_dir", lambda: managed)
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    monkeypatch.setattr(settings, "_settings_value", lambda: "")
    monkeypatch.setattr(settings, "default_engine_python", lambda: str(tmp_path / "no-venv"))
    assert engine_setup.managed_python() == ""  # nothing set up: the checkout path, missing
    assert settings.engine_python() == str(tmp_path / "no-venv")
    python = venv_python(managed)
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert settings.engine_python() == str(tmp_path / "no-venv")  # not ready: not used
    (managed / READY_MARKER).write_text("x")
    assert settings.engine_python() == str(python)  # the set-up venv
    checkout = REPO / ".venv" / "bin" / "python"
    monkeypatch.setattr(settings, "default_engine_python", lambda: str(checkout))
    assert settings.engine_python() == str(checkout)  # a checkout's .venv still wins
    monkeypatch.setenv(settings.ENV_VAR, "/opt/engine/bin/python")
    assert settings.engine_python() == "/opt/engine/bin/python"  # and the variable over all
