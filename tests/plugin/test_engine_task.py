"""EngineTask: the engine in QGIS's task manager; cancelling the task kills the engine."""

from __future__ import annotations

import stat
import time

from conftest import wait_group_gone
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication

from qgis_plugin.engine_runner import EngineCancelled
from qgis_plugin.engine_task import EngineTask
from qgis_plugin.settings import ENV_VAR


def test_cancel_task_kills_engine(tmp_path, monkeypatch):
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho $$ > " + str(tmp_path / "pid") + "\n"
                    "echo '{\"event\": \"progress\", \"done\": 1, \"total\": 5, "
                    "\"stage\": \"train\"}'\nsleep 60\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv(ENV_VAR, str(fake))
    done = []
    task = EngineTask("test", "train", [], on_done=lambda out, err: done.append((out, err)))
    QgsApplication.taskManager().addTask(task)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and task.progress() < 20:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert task.progress() == 20.0 and task.stage == "train: 1/5"
    task.cancel()
    while time.monotonic() < deadline and not done:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    assert done and done[0][0] is None and isinstance(done[0][1], EngineCancelled)
    assert wait_group_gone(int((tmp_path / "pid").read_text())) == []
