"""The model zoo: pretrained backbones by name, one registry for every use.

A zoo name is `zoo:<architecture>` (e.g. `zoo:efficientnet_lite1`). It works
(a) as a frozen embedder wherever a model folder is taken (`--model zoo:efficientnet_lite1`:
    `zoo_model` builds a GeoModel whose street-view and overhead encoders are the pretrained
    network with no projection, so embeddings are its L2-normalised pooled features), and
(b) as the backbone of any recipe (`image: {backbone: zoo:efficientnet_lite1}`), whose weights
    then start from ImageNet (engine.nn.zoo_backbone).
Each entry keeps its input conventions (training size, mean/std); see efficientnet_lite.py.
"""

from __future__ import annotations

from typing import Any

from engine.errors import EngineError
from engine.nn.pretrained.efficientnet_lite import LiteWeights

PREFIX = "zoo:"

ZOO: dict[str, LiteWeights] = {w.name: w for w in (
    LiteWeights("efficientnet_lite0", "0.1.0", "models/efficientnet-lite0-57934424.pth",
                "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                "4c6ab284cc4816dfc9b6a38e08ed874a13ba7fd9ac224182a2bc72cd0e590a70", 224),
    LiteWeights("efficientnet_lite1", "0.1.0", "models/efficientnet-lite1-77cc7160.pth",
                "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
                "c46260e8ed2c3ca8e93b86a7a77eefbcf1104b8af012b6a6905fdf4749fa8fd0", 240),
    LiteWeights("efficientnet_lite2", "0.1.0", "models/efficientnet-lite2-9656183e.pth",
                "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
                "8fcaecad5db5c9f8e275ffedd05db22fd9e5d48cd6ea3847de13ab3a45db9eda", 260),
)}


def zoo_names() -> list[str]:
    """Every zoo name, with its prefix (zoo:efficientnet_lite0, ...)."""
    return [PREFIX + name for name in ZOO]


def is_zoo_name(name: object) -> bool:
    """Whether `name` (a string or a Path given to --model) is a zoo name."""
    return str(name).startswith(PREFIX)


def get_weights(name: str) -> LiteWeights:
    """The zoo entry for `zoo:<arch>` or `<arch>`; EngineError listing the names."""
    arch = str(name)[len(PREFIX):] if is_zoo_name(name) else str(name)
    if arch not in ZOO:
        raise EngineError(f"unknown zoo model '{name}'",
                          f"use one of: {', '.join(zoo_names())}")
    return ZOO[arch]


def zoo_model_config(name: str) -> dict[str, Any]:
    """The GeoModel config of a zoo frozen embedder: both encoders = the pretrained network."""
    weights = get_weights(name)
    encoder = {"backbone": PREFIX + weights.name, "backbone_kw": {}, "projection": "none"}
    return {"embedding_dim": weights.feature_dim, "image": dict(encoder),
            "overhead": dict(encoder)}


def zoo_model(name: str, map_location: str = "cpu") -> Any:
    """A frozen GeoModel from the zoo (eval mode, no gradients)."""
    from engine.nn.model import GeoModel

    model = GeoModel.from_config(zoo_model_config(name))
    model.requires_grad_(False)
    return model.to(map_location).eval()


def zoo_input_sizes(name: str) -> dict[str, Any]:
    """The sizes a zoo embedder expects by default (its training resolution)."""
    size = get_weights(name).input_size
    return {"image_size": size, "chip_size": size}
