"""*GeoContrast → Set up engine…*: the engine install as a cancellable QgsTask with a live log."""

from __future__ import annotations

from typing import Any

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .engine_setup import SetupError, engine_wheel, install_engine, managed_venv_dir
from .engine_task import _TaskFeedback
from .settings import engine_python, probe_engine


class _SetupFeedback(_TaskFeedback):
    """Task feedback that also hands every line to the task's `line` signal (GUI thread)."""

    def pushInfo(self, text: str) -> None:
        super().pushInfo(text)
        self.task.line.emit(text)

    pushCommandInfo = pushInfo
    pushConsoleInfo = pushInfo

    def setProgressText(self, text: str) -> None:
        self.task.stage = text
        self.task.line.emit(f"[{text}]")


class EngineSetupTask(QgsTask):
    """install_engine() on a worker thread; cancel from the dialog or QGIS's task bar."""

    line = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__("GeoContrast: set up engine", QgsTask.CanCancel)
        self.stage = ""
        self.message = ""
        self.ok = False

    def run(self) -> bool:
        try:
            self.message = install_engine(_SetupFeedback(self)).message
            self.ok = True
        except SetupError as exc:
            self.message = str(exc)
        except Exception as exc:
            self.message = f"set-up failed: {exc!r}"
        return self.ok


class SetupDialog(QDialog):
    """Explains what will be installed where; Install / Cancel; pip's output as it comes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("GeoContrast: set up engine")
        self.resize(640, 420)
        self.task: EngineSetupTask | None = None
        layout = QVBoxLayout(self)
        wheel = engine_wheel()
        current = probe_engine() if not wheel else None
        text = (f"Installs the GeoContrast engine ({wheel.name if wheel else 'not shipped'}) "
                f"and PyTorch with their pinned versions into a new Python environment in\n"
                f"{managed_venv_dir()}\n(outside QGIS; torch never loads inside QGIS). "
                "It takes a few minutes and 2–6 GB of disk. Packages come from wherever pip "
                f"is configured to look. Engine in use now: {engine_python()}")
        if current is not None:
            text += f"\n{current.message}"
        self.info = QLabel(text, self)
        self.info.setWordWrap(True)
        layout.addWidget(self.info)
        self.progress = QProgressBar(self)
        layout.addWidget(self.progress)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        layout.addWidget(self.log)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        row = QHBoxLayout()
        self.install_button = QPushButton("Install", self)
        self.install_button.setEnabled(wheel is not None)
        self.install_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel install", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        for button in (self.install_button, self.cancel_button, close):
            row.addWidget(button)
        layout.addLayout(row)

    def start(self) -> EngineSetupTask:
        """Queue the set-up task; the log and bar follow it."""
        self.task = EngineSetupTask()
        self.task.line.connect(self.log.appendPlainText)
        self.task.progressChanged.connect(lambda p: self.progress.setValue(int(p)))
        self.task.taskCompleted.connect(self._finished)
        self.task.taskTerminated.connect(self._finished)
        self.install_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText("Installing…")
        QgsApplication.taskManager().addTask(self.task)
        return self.task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _finished(self, *_: Any) -> None:
        task = self.task
        ok = task is not None and task.ok
        self.status.setText(("✔ " if ok else "✘ ") + (task.message if task else ""))
        self.cancel_button.setEnabled(False)
        self.install_button.setEnabled(not ok)
