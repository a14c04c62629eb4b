"""Pickle-free state files: nested dicts/lists of tensors and scalars -> safetensors + JSON.

Tensors go to a safetensors file under flat keys; everything else (numbers, text, the
nesting itself) goes to JSON, with {"__tensor__": key} and {"__tuple__": [...]} markers.
Used for optimizer state, RNG states and the data position; never torch.save / torch.load.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from engine.errors import EngineError
from engine.export.atomic import atomic_path


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "s") -> Any:
    """Replace tensors in `obj` by markers, collecting them into `tensors`; return JSON data."""
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):  # small arrays only (e.g. numpy's RNG key)
        return {"__ndarray__": obj.tolist(), "dtype": obj.dtype.str}
    if isinstance(obj, dict):
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"state keys must be str or int, got {list(obj)[:3]}")
        return {"__dict__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a state file")


def unflatten(data: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `flatten`."""
    if isinstance(data, dict):
        if "__tensor__" in data:
            return tensors[data["__tensor__"]]
        if "__ndarray__" in data:
            return np.asarray(data["__ndarray__"], dtype=np.dtype(data["dtype"]))
        if "__tuple__" in data:
            return tuple(unflatten(v, tensors) for v in data["__tuple__"])
        if "__dict__" in data:
            return {k: unflatten(v, tensors) for k, v in data["__dict__"]}
        raise ValueError(f"unknown marker in state JSON: {sorted(data)[:3]}")
    if isinstance(data, list):
        return [unflatten(v, tensors) for v in data]
    return data


def save_state(state: dict[str, Any], tensors_path: Path, json_path: Path) -> None:
    """Write `state` as tensors_path (safetensors) + json_path, each atomically."""
    tensors: dict[str, torch.Tensor] = {}
    data = flatten(state, tensors)
    with atomic_path(tensors_path) as tmp:
        save_file(tensors, str(tmp))
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")


def load_state(tensors_path: Path, json_path: Path) -> dict[str, Any]:
    """Read a state written by `save_state`; EngineError naming a missing or corrupt file."""
    for p in (tensors_path, json_path):
        if not p.is_file():
            raise EngineError(f"checkpoint file {p} is missing",
                              "resume needs a complete checkpoint; start without --resume")
    try:
        tensors = load_file(str(tensors_path))
        data = json.loads(json_path.read_text(encoding="utf-8"))
        return unflatten(data, tensors)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise EngineError(f"checkpoint {tensors_path} / {json_path} cannot be read ({exc})",
                          "it is corrupt or was edited; start without --resume") from None


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU + CUDA) RNG states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned (after a round trip through save/load_state)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
