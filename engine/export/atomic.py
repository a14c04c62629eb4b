"""Atomic outputs: write to a temporary sibling, then rename over the target.

A crash or a cancel never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); rename it on success.

    On any exception the temporary file (and GDAL/SQLite side files) is removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp-{uuid.uuid4().hex[:8]}{target.suffix}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, *tmp.parent.glob(tmp.name + "*")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
