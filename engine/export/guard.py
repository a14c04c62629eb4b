"""Checks made before a command writes anything: never over its own input, only into a
folder it can write, and only its own layer of an existing GeoPackage (unless --overwrite).

Each GeoContrast layer records the command that wrote it (layer metadata `gc_command`); a
command replaces a layer only when it wrote that layer itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from engine.errors import EngineError

log = logging.getLogger(__name__)

COMMAND_KEY = "gc_command"


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(outputs: Iterable[str | os.PathLike[str]],
                    inputs: Iterable[str | os.PathLike[str] | None]) -> None:
    """EngineError when an output file is one of the input files (same path or hard link)."""
    ins = [Path(i) for i in inputs if i is not None]
    for out in (Path(o) for o in outputs):
        for inp in ins:
            if _same(out, inp) or out.resolve() == inp.resolve():
                raise EngineError(f"the output {out} would overwrite the input {inp}",
                                  "write the result to another file with --out")


def check_writable(out: str | os.PathLike[str]) -> None:
    """EngineError when the folder `out` goes into cannot be written (read-only, no rights)."""
    folder = Path(out).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EngineError(f"cannot write {out}: the folder {folder} is read-only or not yours",
                          "choose a folder you can write to with --out")


def layer_owner(gpkg: str | os.PathLike[str], layer: str) -> str | None:
    """The command that wrote `layer` of `gpkg` ('' when not GeoContrast); None: no such layer.

    EngineError when the file exists but is not a readable GeoPackage.
    """
    import pyogrio

    try:
        names = [str(row[0]) for row in pyogrio.list_layers(gpkg)]
        if layer not in names:
            return None
        meta = pyogrio.read_info(gpkg, layer=layer).get("layer_metadata") or {}
    except Exception as exc:
        raise EngineError(f"the output {gpkg} exists and is not a readable GeoPackage ({exc})",
                          "pass --overwrite to replace the whole file, or choose another --out"
                          ) from None
    return str(meta.get(COMMAND_KEY, ""))


def _foreign_json(path: Path) -> bool:
    """True for an existing .json the engine did not write: not a JSON object, or GeoJSON
    (a `type` member) that a user named .json."""
    import json

    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    return not isinstance(doc, dict) or "type" in doc


def check_layer(gpkg: str | os.PathLike[str], layer: str, command: str,
                overwrite: bool = False) -> None:
    """Refuse to replace a layer of an existing GeoPackage that `command` did not write."""
    gpkg = Path(gpkg)
    if overwrite or not gpkg.exists():
        return
    owner = layer_owner(gpkg, layer)
    if owner is None or owner == command:
        return
    who = f"by `{owner}`" if owner else "by another program"
    raise EngineError(f"{gpkg} already has a layer {layer!r} written {who}",
                      "pass --overwrite to replace that layer, or choose another --out")


def prepare_output(out: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None],
                   side_files: Iterable[str | os.PathLike[str]] = (), *,
                   suffixes: tuple[str, ...] = (), layer: str | None = None,
                   command: str = "", overwrite: bool = False) -> None:
    """All up-front output checks of a command (see module doc)."""
    if suffixes and Path(out).suffix.lower() not in suffixes:
        raise EngineError(f"the output {out} does not end in {' or '.join(suffixes)}",
                          f"name it OUT{suffixes[0]} with --out")
    outs = [Path(out), *(Path(s) for s in side_files)]
    check_not_input(outs, list(inputs))
    for path in outs:  # found before any work, not at the commit (half a family committed)
        if path.is_dir():
            raise EngineError(f"the output {path} is a folder",
                              "give a file name with --out (the folder it goes in must exist "
                              "or will be made)")
    for path in outs[1:]:
        if not overwrite and _foreign_json(path):
            raise EngineError(f"{path}, which {out} writes beside it, exists and is not "
                              "GeoContrast's (it looks like your data, e.g. GeoJSON)",
                              f"choose another --out name than {Path(out).name}")
    check_writable(out)
    if layer is not None:
        check_layer(out, layer, command, overwrite)
