"""Progress reporting for library code: a plain callback, so stages stay CLI-agnostic."""

from __future__ import annotations

from collections.abc import Callable

# progress(done, total, stage) -- called by long-running stages; the CLI turns it into
# a progress bar (humans) or `{"event": "progress", ...}` lines (--events jsonl).
Progress = Callable[[int, int, str], None]


def no_progress(done: int, total: int, stage: str) -> None:
    """The default callback: report nothing."""
