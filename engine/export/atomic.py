"""Atomic outputs: write to a temporary sibling, then rename over the target.

A crash or a cancel never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

# what SQLite (GeoPackage) and GDAL may leave beside a file they were writing
_SIDE_FILES = ("", "-wal", "-shm", "-journal", ".aux.xml", ".ovr", ".msk")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it on success.

    On any exception the temporary file (and GDAL/SQLite side files) is removed. Side files are
    named explicitly, never found by listing the directory, so writing N files stays O(N).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        for suffix in _SIDE_FILES:
            with contextlib.suppress(FileNotFoundError):
                Path(f"{tmp}{suffix}").unlink()
