"""Model weights: models/<name>/model.safetensors (+ config.yaml); reading never executes code.

`save_model` writes the GeoModel's weights (safetensors) and its config (YAML, `model:`
section = GeoModel.config). `read_weights` refuses a pickle/.pt file or a corrupt or tampered
safetensors file, and `check_state` a missing key or a shape mismatch, each with an
EngineError. Never torch.load. engine.models.folder rebuilds a GeoModel from a folder.
"""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from engine.errors import EngineError
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
_PICKLE_SUFFIXES = {".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".zip"}


def tensors_of(module: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """A module's state_dict as contiguous CPU tensors that do not share memory."""
    return {prefix + k: v.detach().cpu().contiguous().clone()
            for k, v in module.state_dict().items()}


def save_model(model: nn.Module, out_dir: Path, extra_config: dict[str, Any] | None = None
               ) -> dict[str, Path]:
    """Write out_dir/model.safetensors and out_dir/config.yaml atomically; return the paths."""
    out_dir = Path(out_dir)
    model_config = dict(model.config)
    weights, config = out_dir / MODEL_FILE, out_dir / CONFIG_FILE
    with atomic_path(weights) as tmp:
        save_file(tensors_of(model), str(tmp),
                  metadata={"format": "geocontrast", "config": json.dumps(model_config)})
    doc = {**(extra_config or {}), "model": model_config}
    with atomic_path(config) as tmp:
        tmp.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return {"model": weights, "config": config}


def weights_path(path: Path) -> Path:
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.exists():
        raise EngineError(f"model file {path} does not exist",
                          "pass a models/<name> folder holding model.safetensors and config.yaml")
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        raise EngineError(f"model file {path} is a {path.suffix} (pickle) file, which is refused",
                          "GeoContrast loads only .safetensors weights, which cannot run code")
    if path.suffix.lower() != ".safetensors":
        raise EngineError(f"model file {path} is not a .safetensors file",
                          "pass model.safetensors or the folder that holds it")
    return path


def _check_header(path: Path) -> None:
    """Reject files that are not safetensors; name pickle/zip (torch.save) files as such."""
    with open(path, "rb") as f:
        head = f.read(10)
    size = path.stat().st_size
    if len(head) >= 9 and struct.unpack("<Q", head[:8])[0] <= size - 8 and head[8:9] == b"{":
        return
    if head[:4] == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        raise EngineError(f"model file {path} is a pickle/zip archive named .safetensors",
                          "it is refused: re-export the weights with safetensors")
    raise EngineError(f"model file {path} is not a valid safetensors file (bad header)",
                      "it is corrupt or truncated; re-train or re-copy the model")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file, with an EngineError for a corrupt one."""
    _check_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises SafetensorError / OSError / ValueError
        raise EngineError(f"model file {path} cannot be read: {exc}",
                          "it is corrupt or was edited; re-train or re-copy the model") from None


def check_state(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], source: Path
                ) -> None:
    """EngineError naming the first missing/unexpected key or shape/dtype mismatch."""
    missing = sorted(set(expected) - set(found))
    if missing:
        raise EngineError(f"model file {source} lacks weight {missing[0]!r} "
                          f"({len(missing)} missing)",
                          "the weights do not match config.yaml; re-train or re-copy the model")
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        raise EngineError(f"model file {source} has unexpected weight {unexpected[0]!r}",
                          "the weights do not match config.yaml; re-train or re-copy the model")
    for key, ref in expected.items():
        got = found[key]
        if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
            raise EngineError(
                f"model file {source}: weight {key!r} is {tuple(got.shape)} {got.dtype}, "
                f"config.yaml expects {tuple(ref.shape)} {ref.dtype}",
                "the weights do not match config.yaml; re-train or re-copy the model")
