"""Any exception -> (message, hint, exit code): the CLI's one line instead of a traceback.

EngineError carries its own message and hint. OS errors (read-only folder, disk full, no
permission), SQLite/GDAL errors that are OS errors in disguise, worker crashes and memory
errors get a message naming the file (or the command's --out) and a hint naming a real flag.
Anything else is reported as an internal error; `-v` shows its traceback.
"""

from __future__ import annotations

import argparse
import errno
import sqlite3

from engine.errors import EngineError

_FULL = "the disk is full"
_WRITE_HINT = "choose a folder you can write to with --out"
_SPACE_HINT = "free some disk space, or write to another disk with --out"
# (text GDAL, SQLite or the OS put in a message, what it means, the hint)
_PATTERNS = (
    ("no space left", "the disk is full", _SPACE_HINT),
    ("database or disk is full", "the disk is full", _SPACE_HINT),
    ("file too large", "the file size limit was reached", _SPACE_HINT),
    ("read-only file system", "the folder is on a read-only file system", _WRITE_HINT),
    ("readonly database", "the file cannot be written (read-only)", _WRITE_HINT),
    ("permission denied", "permission denied", _WRITE_HINT),
    ("disk i/o error", "a disk I/O error occurred (full or read-only disk?)", _SPACE_HINT),
    ("unable to open database", "the GeoPackage cannot be opened for writing", _WRITE_HINT),
)
_ERRNO = {
    errno.ENOSPC: ("the disk is full", _SPACE_HINT),
    errno.EDQUOT: ("the disk quota is exceeded", _SPACE_HINT),
    errno.EFBIG: ("the file size limit was reached", _SPACE_HINT),
    errno.EROFS: ("the folder is on a read-only file system", _WRITE_HINT),
    errno.EACCES: ("permission denied", _WRITE_HINT),
    errno.EPERM: ("permission denied", _WRITE_HINT),
}


# GDAL/libtiff say only this when a write fails; the disk tells why
_WRITE_FAILED = ("write failed", "write error", "io error writing", "i/o error")


def _disk_state(where: str) -> tuple[str, str]:
    """Why a write into `where`'s folder failed: full, read-only, or an I/O error."""
    from engine.export.disk import disk_errno

    code = disk_errno(where) if where else None
    if code is None:
        return "a write failed (I/O error)", _SPACE_HINT
    if code == errno.EACCES:
        return "the folder is read-only", _WRITE_HINT
    return _ERRNO[code]


def _where(exc: BaseException, args: argparse.Namespace | None) -> str:
    """The file an error is about: the OS error's file name, else the command's --out."""
    from engine.export.atomic import target_of

    name = getattr(exc, "filename", None)
    if name:
        return str(target_of(name))  # the output the user named, not its scratch copy
    out = getattr(args, "out", None) if args is not None else None
    return str(out) if out is not None else ""


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during (__cause__ / __context__)."""
    out: list[BaseException] = []
    while exc is not None and exc not in out and len(out) < 10:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe(exc: BaseException, args: argparse.Namespace | None = None
             ) -> tuple[str, str, int]:
    """(message, hint, exit code) for `exc`."""
    if isinstance(exc, EngineError):
        return exc.message, exc.hint, 2
    if isinstance(exc, MemoryError):
        return "out of memory", "use a smaller --batch-size or a smaller area", 3
    where = _where(exc, args)
    at = f" ({where})" if where and where not in _first_line(exc) else ""
    if _disk_state(where)[0] == _FULL:  # GDAL often reports a full disk as anything else
        return f"cannot write {where}: {_FULL}", _SPACE_HINT, 2
    for link in _chain(exc):  # GDAL: "Write failed. See previous exception for details."
        if isinstance(link, OSError) and link.errno in _ERRNO:
            what, hint = _ERRNO[link.errno]
            return f"cannot write {where or 'the output'}: {what}", hint, 2
        low = str(link).lower()
        if isinstance(link, (OSError, sqlite3.Error, RuntimeError)):
            for needle, what, hint in _PATTERNS:
                if needle in low:
                    return f"cannot write {where or 'the output'}: {what}", hint, 2
    if any(w in str(link).lower() for link in _chain(exc) for w in _WRITE_FAILED):
        what, hint = _disk_state(where)
        return f"cannot write {where or 'the output'}: {what}", hint, 2
    low = str(exc).lower()
    if isinstance(exc, RuntimeError) and "dataloader worker" in low:
        return (f"a photo-decoding worker crashed{at}: {_first_line(exc)}",
                "run with --workers 0 (decode in the main process), or a smaller --image-size",
                2)
    if isinstance(exc, sqlite3.Error):
        return (f"GeoPackage error{at}: {_first_line(exc)}",
                "check that the file is a GeoPackage not open for editing elsewhere, or "
                "write a new one with --out", 2)
    if isinstance(exc, OSError):
        return f"{_first_line(exc)}{at}", "check the path and its permissions", 2
    return (f"internal error ({type(exc).__name__}: {_first_line(exc)}){at}",
            "re-run with -v for details and report it", 1)
