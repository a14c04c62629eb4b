"""What the disk under a path says about a failed write: GDAL and SQLite often report a full
or read-only disk as something else (a missing table, a failed commit)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

FULL_BELOW = 1 << 20  # bytes free under which a file system counts as full


def disk_errno(where: str | os.PathLike[str]) -> int | None:
    """errno.ENOSPC when the file system holding `where` (or its nearest existing folder) has
    under FULL_BELOW bytes free, errno.EROFS when it is mounted read-only, errno.EACCES when
    the folder cannot be written; None when the disk explains nothing."""
    folder = Path(where)
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if st.f_bavail * st.f_frsize < FULL_BELOW:
        return errno.ENOSPC
    if not os.access(folder, os.W_OK):
        return errno.EACCES
    return None
