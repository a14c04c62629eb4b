"""`zoo:<arch>` backbones: a zoo network (engine.nn.pretrained.zoo) with ImageNet weights.

Input: ImageNet-normalised floats like every backbone here; the backbone converts them to its
weights' own convention inside forward (an exact per-channel affine map), so the data pipeline
stays one for all backbones and the pretrained network still sees the numbers it was trained on.
With `in_chans` != 3 the first convolution is adapted (timm's adapt_input_conv: RGB filters
repeated and rescaled) and bands beyond the third get the mean of the RGB conversion.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.errors import EngineError
from engine.nn.pretrained.zoo import get_weights
from engine.nn.registry import BACKBONES


class ZooBackbone(nn.Module):
    """Pooled features (B, feature_dim) of a pretrained zoo network; `.blocks()` lists its
    stages in order (stem first, head last) for the `partial` training regime."""

    def __init__(self, arch: str, weights: str | None = "imagenet", in_chans: int = 3) -> None:
        super().__init__()
        from engine.models.inputs import MEAN, STD  # the pipeline's ImageNet normalisation

        spec = get_weights(arch)
        if weights not in ("imagenet", None):
            raise EngineError(f"zoo:{spec.name} weights={weights!r} is not known",
                              "use weights: imagenet (default) or null for random init")
        if int(in_chans) < 1:
            raise EngineError(f"zoo:{spec.name} needs in_chans >= 1, got {in_chans}",
                              "set backbone_kw.in_chans to the raster's band count")
        self.arch, self.in_chans = spec.name, int(in_chans)
        model = spec.create_model(num_classes=0)
        if weights == "imagenet":
            state = {k: v for k, v in spec.load_state().items()
                     if not k.startswith("classifier.")}
            model.load_state_dict(state, strict=True)
        if self.in_chans != 3:
            _adapt_stem(model, self.in_chans)
        self.model = model.to(memory_format=torch.channels_last)
        self.out_dim = int(spec.feature_dim)
        mean_in, std_in = MEAN.view(3), STD.view(3)
        mean_w, std_w = torch.tensor(spec.mean), torch.tensor(spec.std)
        scale, shift = std_in / std_w, (mean_in - mean_w) / std_w
        if self.in_chans != 3:
            extra = max(0, self.in_chans - 3)
            scale = torch.cat([scale, scale.mean().repeat(extra)])[:self.in_chans]
            shift = torch.cat([shift, shift.mean().repeat(extra)])[:self.in_chans]
        self.register_buffer("in_scale", scale.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("in_shift", shift.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.in_shift, x, self.in_scale)
        return self.model(x.contiguous(memory_format=torch.channels_last))

    def blocks(self) -> list[nn.Module]:
        """Stem, each inverted-residual block, head: the units `partial` unfreezes from the end."""
        m = self.model
        stem = nn.ModuleList([m.conv_stem, m.bn1])
        head = nn.ModuleList([m.conv_head, m.bn2])
        return [stem, *(block for stage in m.blocks for block in stage), head]


def _adapt_stem(model: nn.Module, in_chans: int) -> None:
    """Replace the stem convolution's weight for `in_chans` input bands (timm's rule)."""
    from timm.models import adapt_input_conv

    conv = model.conv_stem
    weight = adapt_input_conv(in_chans, conv.weight.detach())
    new = type(conv)(in_chans, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     padding=getattr(conv, "padding", 0), dilation=conv.dilation,
                     groups=conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(weight)
    model.conv_stem = new


@BACKBONES.register("zoo:")
def zoo_backbone(arch: str, weights: str | None = "imagenet", in_chans: int = 3) -> nn.Module:
    """A zoo network by name (`zoo:efficientnet_lite0`), ImageNet weights unless weights=None."""
    return ZooBackbone(arch, weights=weights, in_chans=in_chans)
