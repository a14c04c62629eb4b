"""Atomic outputs: write to scratch siblings, then rename over the targets.

A crash or a cancel never leaves a half-written file under a final name. Scratch names are
`.<target name>.gc-<pid>-<random><suffix>` (the suffix kept, GDAL picks drivers by it), so the
next run writing the same output finds and removes what a killed run left (`clean_stale`).
Several files written together (a field, its preview and its JSON; a GeoPackage and its
.faiss) are committed through a small journal: either all of them are renamed into place or,
after a kill in the middle, the next run finishes the renames (`recover`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# what SQLite (GeoPackage) and GDAL may leave beside a file they were writing
_SIDE_FILES = ("", "-wal", "-shm", "-journal", ".aux.xml", ".ovr", ".msk")
TAG = ".gc-"
_JOURNAL = ".commit"


# what GDAL or QGIS cache beside a file about its content (statistics, histograms: QGIS
# reads a raster's colour range from them): stale once the file is replaced
_CACHE_FILES = (".aux.xml",)


def _umask() -> int:
    """The process's umask (read without changing it where /proc tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """os.replace, with the permissions any new file of the user gets (safetensors and
    mkstemp make scratch files 0600, which other accounts, e.g. the one QGIS runs under on a
    shared machine, could not read), removing what was cached about the file it replaces.
    A folder replaces a folder (a training run's checkpoints): the old one is removed first,
    so a replay of the journal after a kill in the middle finishes the job (the source is
    still there)."""
    if os.path.isfile(src):
        os.chmod(src, 0o666 & ~_umask())
    if os.path.isdir(src) and os.path.isdir(dst) and not os.path.islink(dst):
        shutil.rmtree(dst)
    os.replace(src, dst)
    for suffix in _CACHE_FILES:
        _remove(Path(f"{dst}{suffix}"))


def scratch_name(target: str | os.PathLike[str], suffix: str | None = None) -> Path:
    """A fresh scratch path beside `target`, tagged with this process id."""
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    return target.with_name(f".{target.name}{TAG}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


_SCRATCH = re.compile(r"^\.(?P<target>.+)" + re.escape(TAG) + r"\d+-[0-9a-f]{8}")


def target_of(path: str | os.PathLike[str]) -> Path:
    """The path a scratch path stands for, to name in messages: a scratch file
    (scratch_name) becomes its target, a staging folder (staged_folder) is dropped, since its
    files move into the folder above."""
    parts = list(Path(path).parts)
    out = []
    for i, part in enumerate(parts):
        m = _SCRATCH.match(part)
        if m is None:
            out.append(part)
        elif i == len(parts) - 1:
            out.append(m["target"])
    return Path(*out)


_SCRATCH_IN_TEXT = re.compile(r"/\.([^/\s]+?)" + re.escape(TAG) + r"\d+-[0-9a-f]{8}[\w.]*?"
                              r"(?=/|[\s:,;'\")]|$)")


def display_paths(text: str) -> str:
    """`text` with every scratch path in it named as the output it stands for (target_of):
    for log lines, which are written while the scratch files exist and read after they are
    gone."""
    def one(m: re.Match) -> str:
        return "" if m.end() < len(text) and text[m.end()] == "/" else "/" + m[1]

    return _SCRATCH_IN_TEXT.sub(one, text)


def _remove(path: Path) -> None:
    """Remove a file or folder; errors (gone already, read-only folder) are ignored."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


def _owner_alive(name: str) -> bool:
    """True when the scratch `name` belongs to a process that is still running (this one
    included: its own scratch, e.g. a torchrun job's parts folder, is in use)."""
    try:
        pid = int(name.split(TAG, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(parent: Path, key: str) -> list[Path]:
    """Scratch entries of output `key` (a file name) in `parent`, incl. the older naming."""
    stem = Path(key).stem
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            name = entry.name
            if not name.startswith("."):
                continue
            bare = name.lstrip(".")
            if bare.startswith(key + TAG) or bare.startswith((f"{stem}.tmp-",
                                                              f"{stem}.scratch-")):
                out.append(parent / name)
    return out


def recover(target: str | os.PathLike[str]) -> None:
    """Finish a commit that a killed run of `target`'s output set left half done."""
    target = Path(target)
    for path in _stale(target.parent, target.name):
        if not path.name.endswith(_JOURNAL) or _owner_alive(path.name.lstrip(".")):
            continue
        try:
            moves = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            moves = []
        for src, dst in moves:
            if src is None:
                _remove(Path(dst))
            elif Path(src).exists():
                _replace(src, dst)
        _remove(path)
        log.info("finished the interrupted commit of %s", target)


def pending_commit(target: str | os.PathLike[str]) -> bool:
    """Whether a killed run left a commit of `target`'s output set for `recover` to finish."""
    target = Path(target)
    return any(p.name.endswith(_JOURNAL) and not _owner_alive(p.name.lstrip("."))
               for p in _stale(target.parent, target.name))


def clean_stale(target: str | os.PathLike[str]) -> int:
    """Recover, then remove scratch files a killed run of `target` left; return how many."""
    target = Path(target)
    if not target.parent.is_dir():
        return 0
    recover(target)
    n = 0
    for path in _stale(target.parent, target.name):
        if TAG in path.name and _owner_alive(path.name.lstrip(".")):
            continue
        _remove(path)
        n += 1
    if n:
        log.info("removed %d scratch file(s) a stopped run left beside %s", n, target)
    return n


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """An exclusive advisory lock on a folder (flock on its descriptor; no lock file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def made_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """`mkdir -p folder`; on an exception the folders this made are removed when they hold no
    file (empty sub-folders made meanwhile go with them)."""
    folder = Path(folder)
    made = []
    p = folder
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    except BaseException:
        for d in made:  # deepest first
            for sub, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(sub)  # fails (kept) when it holds a file
        raise


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a scratch path beside `target` (same suffix); rename it on success.

    On any exception the scratch file (and GDAL/SQLite side files) is removed. Side files are
    named explicitly, never found by listing the directory, so writing N files stays O(N).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_name(target)
    try:
        yield tmp
        _replace(tmp, target)
    finally:
        for suffix in _SIDE_FILES:
            _remove(Path(f"{tmp}{suffix}"))


class OutputSet:
    """Files written together under scratch names and committed together (see module doc).

    `path(target)` is where to write `target`; at commit every target written replaces the
    old file, the main (first) target last, and every target *not* written is removed (a
    stale side file never survives beside a new main file), as are the `remove` paths.
    """

    def __init__(self, targets: Sequence[str | os.PathLike[str]],
                 remove: Sequence[str | os.PathLike[str]] = (),
                 scratch: dict[Path, Path] | None = None,
                 key: str | os.PathLike[str] | None = None) -> None:
        self.targets = [Path(t) for t in targets]
        self.remove = [Path(r) for r in remove]
        self._tmp = dict(scratch) if scratch else {t: scratch_name(t) for t in self.targets}
        self.key = Path(key) if key is not None else self.targets[0]

    def path(self, target: str | os.PathLike[str]) -> Path:
        return self._tmp[Path(target)]

    def commit(self) -> None:
        moves: list[tuple[str | None, str]] = [
            (str(self._tmp[t]) if self._tmp[t].exists() else None, str(t))
            for t in reversed(self.targets)]
        moves += [(None, str(r)) for r in self.remove]
        moves = [m for m in moves if m[0] is not None or os.path.lexists(m[1])]
        journal = scratch_name(self.key, _JOURNAL)
        part = scratch_name(self.key, ".part")
        try:
            part.write_text(json.dumps(moves), encoding="utf-8")
            os.replace(part, journal)
        finally:
            _remove(part)
        for src, dst in moves:
            if src is None:
                _remove(Path(dst))
            else:
                _replace(src, dst)
        _remove(journal)

    def abort(self) -> None:
        for tmp in self._tmp.values():
            for suffix in _SIDE_FILES:
                _remove(Path(f"{tmp}{suffix}"))


@contextlib.contextmanager
def atomic_outputs(*targets: str | os.PathLike[str],
                   remove: Sequence[str | os.PathLike[str]] = (),
                   hold_lock: bool = False) -> Iterator[OutputSet]:
    """An OutputSet for `targets` (the first is the main file), committed on success.

    Stale scratch of the same outputs (a killed earlier run) is cleaned first; on any
    exception nothing new is left. The folder is locked during the commit, or from the
    start with `hold_lock` (for read-modify-write outputs such as an existing GeoPackage).
    """
    paths = [Path(t) for t in targets]
    with contextlib.ExitStack() as stack:
        for folder in dict.fromkeys(p.parent for p in paths):
            stack.enter_context(made_folder(folder))
        for p in paths:
            clean_stale(p)
        outputs = OutputSet(paths, remove)
        if hold_lock:
            stack.enter_context(folder_lock(paths[0].parent))
        try:
            yield outputs
            with contextlib.nullcontext() if hold_lock else folder_lock(paths[0].parent):
                outputs.commit()
        finally:
            outputs.abort()


@contextlib.contextmanager
def staged_folder(out_dir: str | os.PathLike[str], key: str,
                  replaces: Sequence[str | os.PathLike[str]] = (),
                  folders: Mapping[str | os.PathLike[str], str | os.PathLike[str]] | None = None
                  ) -> Iterator[Path]:
    """A hidden staging folder inside `out_dir`; its files move into `out_dir` together.

    For commands that write a family of files (a map's .tif, .qml, .gpkg, .png): they write
    into the staging folder; on success every file is committed (journal, see OutputSet),
    the GeoTIFF last, and the files of `replaces` (an earlier family) that were not written
    again are removed; on failure the folder is removed and `out_dir` holds nothing new.
    `folders` ({target: source}) are folders moved in by the same commit, each replacing
    its target (a training run's checkpoints).
    """
    out_dir = Path(out_dir)
    with made_folder(out_dir):
        anchor = out_dir / key
        clean_stale(anchor)
        stage = scratch_name(anchor, "")
        stage.mkdir()
        try:
            yield stage
            files = sorted((p for p in stage.iterdir() if p.is_file()),
                           key=lambda p: (p.suffix != ".tif", p.name))
            written = {f.name for f in files}
            moved = {Path(t): Path(s) for t, s in (folders or {}).items()}
            commit = OutputSet([*(out_dir / f.name for f in files), *moved],
                               remove=[r for r in map(Path, replaces) if r.name not in written],
                               scratch={**{out_dir / f.name: f for f in files}, **moved},
                               key=anchor)
            with folder_lock(out_dir):
                commit.commit()
        finally:
            _remove(stage)
