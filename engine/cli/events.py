"""How the CLI tells the world what is happening: a progress bar, or JSON lines.

With `--events jsonl` every line on stdout is one JSON object:
  {"event": "progress", "done": 40, "total": 200, "stage": "embed"}
  {"event": "log", "level": "warning", "message": "..."}
  {"event": "result", "outputs": {...}}
  {"event": "error", "message": "...", "hint": "..."}
Humans get a tqdm progress bar on stderr and a readable summary instead.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO


class JsonlEvents:
    """One JSON object per line on stdout, flushed at once (a parent process reads it)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._last: tuple[str, int] | None = None

    def _emit(self, obj: dict[str, Any]) -> None:
        self.stream.write(json.dumps(obj, default=str) + "\n")
        self.stream.flush()

    def progress(self, done: int, total: int, stage: str) -> None:
        # Coalesce: at most one event per percent per stage keeps the pipe quiet.
        pct = int(100 * done / total) if total else done
        if self._last == (stage, pct) and done != total:
            return
        self._last = (stage, pct)
        self._emit({"event": "progress", "done": int(done), "total": int(total), "stage": stage})

    def log(self, level: str, message: str) -> None:
        self._emit({"event": "log", "level": level, "message": message})

    def result(self, outputs: dict[str, Any]) -> None:
        self._emit({"event": "result", "outputs": outputs})

    def error(self, message: str, hint: str = "") -> None:
        self._emit({"event": "error", "message": message, "hint": hint})


class HumanEvents:
    """A tqdm progress bar per stage on stderr and a plain summary on stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._bar: Any = None
        self._stage = ""

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar, self._stage = None, ""

    def progress(self, done: int, total: int, stage: str) -> None:
        from tqdm import tqdm

        if self._bar is None or stage != self._stage or (total or None) != self._bar.total:
            self._close()
            self._bar = tqdm(total=total or None, desc=stage, file=self.stream, leave=True,
                             mininterval=0.1, dynamic_ncols=True)
            self._stage = stage
        if done < self._bar.n:  # a stage that restarts its count
            self._bar.reset(total=total or None)
        self._bar.update(done - self._bar.n)
        if total and done >= total:
            self._close()

    def log(self, level: str, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"{level}: {message}", file=self.stream)  # above an open bar, not through it

    def result(self, outputs: dict[str, Any]) -> None:
        self._close()
        for key, value in outputs.items():
            print(f"{key}: {value}")

    def error(self, message: str, hint: str = "") -> None:
        self._close()
        self.stream.write(f"error: {message}\n")
        if hint:
            self.stream.write(f"hint: {hint}\n")


class EventsLogHandler(logging.Handler):
    """Routes library `logging` warnings into the event stream."""

    def __init__(self, events: JsonlEvents | HumanEvents) -> None:
        super().__init__(level=logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        from engine.export.atomic import display_paths

        self.events.log(record.levelname.lower(), display_paths(record.getMessage()))
