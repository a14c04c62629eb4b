"""Save / load heads as `<path>.safetensors` (arrays) + `<path>.json` (metadata): no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.export.jsontext import dumps
from engine.heads.head import Head

FORMAT = "geocontrast-head/1"


def _base(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".safetensors", ".json") else p


def save_head(head: Head, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write `<path>.safetensors` and `<path>.json` atomically; return both paths."""
    from safetensors.numpy import save_file

    base = _base(path)
    st, js = base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")
    arrays = {k: np.ascontiguousarray(v) for k, v in head.arrays.items()}
    doc = {"format": FORMAT, "kind": head.kind, "task": head.task, **head.meta,
           "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                      for k, v in arrays.items()}}
    with atomic_path(st) as tmp:
        save_file(arrays, str(tmp), metadata={"format": FORMAT, "kind": head.kind})
    with atomic_path(js) as tmp:
        tmp.write_text(dumps(doc, default=_json_default), encoding="utf-8")
    return st, js


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_head(path: str | os.PathLike[str]) -> Head:
    """Rebuild a `Head` from `<path>.safetensors` + `<path>.json` (no code is executed)."""
    from safetensors.numpy import load_file

    base = _base(path)
    st, js = base.with_name(base.name + ".safetensors"), base.with_name(base.name + ".json")
    for f in (st, js):
        if not f.is_file():
            raise EngineError(f"head file {f} is missing",
                              "a head is a pair NAME.safetensors + NAME.json, as "
                              "`python -m engine fit --out NAME` writes it")
    try:
        doc = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"head metadata {js} is not valid JSON: {exc}",
                          "fit the head again (python -m engine fit --out NAME)") from None
    if doc.get("format") != FORMAT:
        raise EngineError(f"{js} is not a GeoContrast head (format {doc.get('format')!r})",
                          f"expected format {FORMAT!r}")
    try:
        arrays = load_file(str(st))
    except Exception as exc:  # safetensors raises its own error types
        raise EngineError(f"head weights {st} cannot be read: {exc}",
                          "fit the head again (python -m engine fit --out NAME)") from None
    missing = set(doc.get("arrays", {})) - set(arrays)
    if missing:
        raise EngineError(f"{st} lacks arrays {sorted(missing)} listed in {js.name}",
                          "the two files do not belong together; re-save the head")
    kind, task = doc.pop("kind"), doc.pop("task")
    for k in ("format", "arrays"):
        doc.pop(k, None)
    return Head(kind=kind, task=task, arrays=dict(arrays), meta=doc)
