"""Image backbones: (B,3,H,W) ImageNet-normalised floats -> (B,D) features, with `.out_dim`.

"tiny_cnn" is the laptop default (trains in minutes on 2 CPU cores at 64-128 px, any input size
through global pooling); "timm:<model_name>" builds any timm model without its classifier.
Weights are never downloaded: a timm backbone starts random unless `weights` names a
.safetensors file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from engine.errors import EngineError
from engine.nn.registry import BACKBONES

log = logging.getLogger(__name__)


def build_backbone(name: str = "tiny_cnn", **kw: object) -> nn.Module:
    """Build the backbone registered as `name` (e.g. "tiny_cnn", "timm:resnet18")."""
    return BACKBONES.build(name, **kw)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "gn":
        return nn.GroupNorm(min(8, channels), channels)
    raise EngineError(f"unknown norm '{kind}' for tiny_cnn", hint="use 'bn' or 'gn'")


class TinyCNN(nn.Module):
    """A small VGG-like conv net: `depth` stride-2 stages, widths doubling from `width`."""

    def __init__(
        self, width: int = 32, depth: int = 4, out_dim: int = 256, norm: str = "bn",
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if width < 1 or depth < 1 or out_dim < 1 or in_chans < 1:
            raise EngineError(
                f"tiny_cnn needs positive sizes (width={width}, depth={depth}, out_dim={out_dim}, "
                f"in_chans={in_chans})",
                hint="use e.g. width=32, depth=4, out_dim=256",
            )
        layers: list[nn.Module] = []
        c_in = int(in_chans)
        for i in range(depth):
            c_out = width * 2 ** min(i, 3)
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                _norm(norm, c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                _norm(norm, c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        layers += [nn.Conv2d(c_in, out_dim, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def blocks(self) -> list[nn.Module]:
        """The stages (conv-norm-relu twice) and the output conv, input to output."""
        layers = list(self.body)
        stages = [nn.ModuleList(layers[i:i + 6]) for i in range(0, len(layers) - 3, 6)]
        return [*stages, layers[-3]]


@BACKBONES.register("tiny_cnn")
def tiny_cnn(width: int = 32, depth: int = 4, out_dim: int = 256, norm: str = "bn",
             in_chans: int = 3) -> nn.Module:
    """The default small conv net (about 1M parameters at width 32); `in_chans` input bands."""
    return TinyCNN(width=width, depth=depth, out_dim=out_dim, norm=norm, in_chans=in_chans)


class TimmBackbone(nn.Module):
    """A timm model with its classifier removed (num_classes=0): pooled features (B, D)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # pooled output width: models with a conv head after pooling (MobileNetV3) say it here
        self.out_dim = int(getattr(model, "head_hidden_size", None) or model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@BACKBONES.register("timm:")
def timm_backbone(model_name: str, weights: str | None = None, **timm_kwargs: object) -> nn.Module:
    """Any timm model by name, random init or from a local .safetensors file (never downloaded)."""
    import timm

    if not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name[:6]}*")[:10]
        raise EngineError(
            f"unknown timm model '{model_name}'",
            hint=f"use a name from timm.list_models(); similar: {', '.join(close) or '(none)'}",
        )
    try:
        model = timm.create_model(model_name, pretrained=False, num_classes=0, **timm_kwargs)
    except TypeError as exc:  # an unknown keyword for this architecture
        raise EngineError(
            f"timm:{model_name} rejected the settings {sorted(timm_kwargs)}: {exc}",
            hint="backbone_kw takes `weights` and keywords of timm.create_model for this model",
        ) from exc
    if weights is not None:
        _load_safetensors(model, Path(weights), model_name)
    return TimmBackbone(model)


def _load_safetensors(model: nn.Module, path: Path, model_name: str) -> None:
    from safetensors.torch import load_file

    if not path.is_file():
        raise EngineError(
            f"backbone weights file not found: {path}",
            hint="give the path of a .safetensors file, or leave `weights` out for random init",
        )
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise EngineError(
            f"cannot read backbone weights {path}: {exc}",
            hint="the file must be a .safetensors state dict (convert .pth files with "
            "safetensors.torch.save_file)",
        ) from exc
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier.", "head."))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()[-1].strip()
        raise EngineError(f"weights {path} do not fit timm:{model_name}: {first}",
                          hint="use weights saved from the same timm architecture") from exc
    if missing:
        raise EngineError(
            f"weights {path} do not fit timm:{model_name}: {len(missing)} tensors missing "
            f"(e.g. {missing[0]})",
            hint="use weights saved from the same timm architecture",
        )
    log.info("loaded %s weights from %s (%d unused tensors)", model_name, path, len(unexpected))
