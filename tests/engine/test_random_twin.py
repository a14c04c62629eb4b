"""The untrained twin of a pretrained recipe (the demo's baseline): ImageNet backbone weights
kept, adapters random; without keep_pretrained every weight is random."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_untrained_twin_keeps_the_imagenet_backbone_and_draws_random_adapters() -> None:
    import torch

    from engine.evaluate.baselines import has_pretrained_backbone, random_init_embedder
    from engine.nn.model import GeoModel

    cfg = yaml.safe_load((ROOT / "models/lite0_crossview_spatial.yaml").read_text())["model"]
    stored = GeoModel.from_config(cfg).config  # as a model folder records it (weights: null)
    assert has_pretrained_backbone(stored)
    imagenet = GeoModel.from_config(cfg).image_encoder.backbone.state_dict()
    twin = random_init_embedder(stored, seed=0, keep_pretrained=True).model
    other = random_init_embedder(stored, seed=1, keep_pretrained=True).model
    scratch = random_init_embedder(stored, seed=0).model
    for name, w in twin.image_encoder.backbone.state_dict().items():
        assert torch.equal(w, imagenet[name]), name
    stem = "model.conv_stem.weight"
    assert not torch.equal(scratch.image_encoder.backbone.state_dict()[stem], imagenet[stem])
    a = [p for p in twin.image_encoder.projection.parameters()]
    b = [p for p in other.image_encoder.projection.parameters()]
    assert any(not torch.equal(x, y) for x, y in zip(a, b, strict=True))  # seeded adapters
    tiny = yaml.safe_load((ROOT / "models/crossview_spatial.yaml").read_text())["model"]
    assert not has_pretrained_backbone(tiny)
