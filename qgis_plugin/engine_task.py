"""An engine command as a QgsTask: runs in QGIS's task manager, cancellable from its bar."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from qgis.core import Qgis, QgsMessageLog, QgsTask

from .engine_runner import EngineRunError, run_engine

LOG_TAG = "GeoContrast"


class _TaskFeedback:
    """The feedback interface run_engine needs, backed by a QgsTask and the message log."""

    def __init__(self, task: QgsTask) -> None:
        self.task = task

    def isCanceled(self) -> bool:
        return self.task.isCanceled()

    def setProgress(self, percent: float) -> None:
        self.task.setProgress(percent)

    def setProgressText(self, text: str) -> None:
        self.task.stage = text

    def pushInfo(self, text: str) -> None:
        QgsMessageLog.logMessage(text, LOG_TAG, Qgis.Info)

    pushCommandInfo = pushInfo
    pushDebugInfo = pushInfo
    pushConsoleInfo = pushInfo

    def pushWarning(self, text: str) -> None:
        QgsMessageLog.logMessage(text, LOG_TAG, Qgis.Warning)

    def reportError(self, text: str, fatal: bool = False) -> None:
        QgsMessageLog.logMessage(text, LOG_TAG, Qgis.Critical)


class EngineTask(QgsTask):
    """Run one engine command in the background; `on_done(outputs, error)` on the main thread.

    `outputs` is the engine's result dict (None on failure); `error` the EngineRunError
    (None on success; an EngineCancelled when the user cancelled).
    """

    def __init__(
        self,
        description: str,
        command: str,
        args: Sequence[str],
        on_done: Callable[[dict[str, Any] | None, EngineRunError | None], None] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(description, QgsTask.CanCancel)
        self.command = command
        self.args = list(args)
        self.on_done = on_done
        self.timeout_s = timeout_s
        self.stage = ""
        self.outputs: dict[str, Any] | None = None
        self.error: EngineRunError | None = None

    def run(self) -> bool:
        """Runs on a worker thread: no GUI calls here."""
        try:
            self.outputs = run_engine(
                self.command, self.args, _TaskFeedback(self), timeout_s=self.timeout_s
            )
        except EngineRunError as exc:
            self.error = exc
            return False
        return True

    def finished(self, result: bool) -> None:
        """Runs on the main thread when run() returned (or the task was cancelled)."""
        if self.error is not None:
            QgsMessageLog.logMessage(str(self.error), LOG_TAG, Qgis.Critical)
        if self.on_done is not None:
            self.on_done(self.outputs if result else None, self.error)
