"""How the CLI tells the world what is happening: a progress bar, or JSON lines.

With `--events jsonl` every line on stdout is one JSON object:
  {"event": "progress", "done": 40, "total": 200, "stage": "embed"}
  {"event": "log", "level": "warning", "message": "..."}
  {"event": "result", "outputs": {...}}
  {"event": "error", "message": "...", "hint": "..."}
Humans get a one-line progress bar on stderr and a readable summary instead.
"""

from __future__ import annotations

import json
import logging
import sys
import time
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
    """A progress bar on stderr and a plain summary on stdout."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self._stage = ""
        self._t0 = time.monotonic()
        self._drawn = 0.0

    def progress(self, done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        if stage != self._stage:
            if self._stage:
                self.stream.write("\n")
            self._stage, self._t0 = stage, now
        if now - self._drawn < 0.1 and done != total:
            return
        self._drawn = now
        width = 30
        frac = done / total if total else 0.0
        bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
        elapsed = now - self._t0
        rate = f" ({done / elapsed:.1f}/s)" if elapsed > 0.5 else ""
        self.stream.write(f"\r{stage:>12} [{bar}] {done}/{total}{rate}")
        if done == total:
            self.stream.write("\n")
            self._stage = ""
        self.stream.flush()

    def log(self, level: str, message: str) -> None:
        self.stream.write(f"{level}: {message}\n")

    def result(self, outputs: dict[str, Any]) -> None:
        for key, value in outputs.items():
            print(f"{key}: {value}")

    def error(self, message: str, hint: str = "") -> None:
        if self._stage:  # end an unfinished progress bar first: the error is its own line
            self.stream.write("\n")
            self._stage = ""
        self.stream.write(f"error: {message}\n")
        if hint:
            self.stream.write(f"hint: {hint}\n")


class EventsLogHandler(logging.Handler):
    """Routes library `logging` warnings into the event stream."""

    def __init__(self, events: JsonlEvents | HumanEvents) -> None:
        super().__init__(level=logging.INFO)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.log(record.levelname.lower(), record.getMessage())
