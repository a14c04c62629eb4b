"""The engine settings dialog: Check runs the real probe; OK stores the interpreter."""

from __future__ import annotations

from qgis.core import QgsSettings

from qgis_plugin import settings
from qgis_plugin.settings_dialog import SettingsDialog


def test_check_and_store(engine_python, monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_VAR, raising=False)
    dialog = SettingsDialog()
    try:
        dialog.path_widget.setFilePath(engine_python)
        message = dialog.check()
        assert message.startswith("engine found, torch ")
        assert dialog.result_label.text() == "✔ " + message

        dialog.path_widget.setFilePath(str(tmp_path / "python"))
        assert "not found" in dialog.check() and dialog.result_label.text().startswith("✘")
        dialog.accept()
        assert QgsSettings().value(settings.SETTINGS_KEY) == str(tmp_path / "python")
        assert settings.engine_python() == str(tmp_path / "python")
    finally:
        settings.set_engine_python("")
        dialog.deleteLater()
    assert settings.engine_python() == settings.default_engine_python()
