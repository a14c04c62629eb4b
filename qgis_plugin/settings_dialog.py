"""A small dialog: choose the engine interpreter and check that torch and the engine load."""

from __future__ import annotations

import os

from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .settings import ENV_VAR, default_engine_python, engine_python, probe_engine, set_engine_python


class SettingsDialog(QDialog):
    """Engine interpreter (a file picker) + "Check engine" showing the probe's one-liner."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("GeoContrast engine settings")
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(
                "Python interpreter of the virtual environment where the GeoContrast engine "
                f"is installed (empty = {default_engine_python()})."
            )
        )
        self.path_widget = QgsFileWidget(self)
        self.path_widget.setStorageMode(QgsFileWidget.GetFile)
        self.path_widget.setFilePath(engine_python())
        layout.addWidget(self.path_widget)
        if os.environ.get(ENV_VAR):
            layout.addWidget(QLabel(f"Note: {ENV_VAR} is set and takes precedence."))
        self.check_button = QPushButton("Check engine", self)
        self.check_button.clicked.connect(self.check)
        layout.addWidget(self.check_button)
        self.result_label = QLabel("", self)
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.result_label)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def check(self) -> str:
        """Run the probe with the interpreter in the box; show and return its message."""
        QApplication.setOverrideCursor(Qt.WaitCursor)
        try:
            probe = probe_engine(self.path_widget.filePath().strip() or None)
        finally:
            QApplication.restoreOverrideCursor()
        self.result_label.setText(("✔ " if probe.ok else "✘ ") + probe.message)
        return probe.message

    def accept(self) -> None:
        """Store the interpreter (the default when it equals the default)."""
        path = self.path_widget.filePath().strip()
        set_engine_python("" if path == default_engine_python() else path)
        super().accept()
