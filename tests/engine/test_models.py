"""GeoModel, backbones, heads and the time encoder: shapes, config round trip, no downloads."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from engine.errors import EngineError
from engine.nn.backbones import build_backbone
from engine.nn.heads import Predictor, ProjectionHead
from engine.nn.model import GeoModel
from engine.nn.registry import BACKBONES, Registry
from engine.nn.time_encoder import TimeEncoder, time_features, time_valid

torch.set_num_threads(1)

TINY = {"backbone": "tiny_cnn", "backbone_kw": {"width": 8, "depth": 2, "out_dim": 32},
        "hidden_dim": 32}
FULL = {"embedding_dim": 16, "image": TINY, "overhead": TINY,
        "location": {"name": "sphereM", "frequency_num": 8, "hidden_dim": 32},
        "time": {"hidden_dim": 16}, "predictor": {"hidden_dim": 32}}


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a connection fails the test (weights must never be downloaded)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_geomodel_embeds_every_input_normalised() -> None:
    torch.manual_seed(0)
    model = GeoModel(FULL).eval()
    x = torch.randn(3, 3, 24, 24)
    lonlat = torch.tensor([[-79.4, 43.7], [2.35, 48.85], [151.2, -33.9]], dtype=torch.float64)
    for emb in (model.embed_image(x), model.embed_overhead(x), model.embed_location(lonlat)):
        assert emb.shape == (3, 16)
        torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    assert model.features_image(x).shape == (3, model.image_feature_dim) == (3, 32)
    assert model.embed_time(torch.zeros(3, 4)).shape == (3, 16)
    assert model.embedding_dim == 16


def test_from_config_round_trips_state_dict() -> None:
    torch.manual_seed(0)
    model = GeoModel(FULL)
    cfg = json.loads(json.dumps(model.config))  # JSON-able
    clone = GeoModel.from_config(cfg)
    assert clone.config == model.config == cfg
    a, b = model.state_dict(), clone.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in a)
    clone.load_state_dict(a, strict=True)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model.eval().embed_image(x), clone.eval().embed_image(x))


def test_same_seed_same_weights() -> None:
    torch.manual_seed(5)
    a = GeoModel(FULL).state_dict()
    torch.manual_seed(5)
    b = GeoModel(FULL).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_defaults_and_bad_config_keys() -> None:
    cfg = GeoModel().config
    assert cfg["image"]["backbone"] == "tiny_cnn"
    assert cfg["overhead"] is None and cfg["location"] is None and cfg["time"] is None
    with pytest.raises(EngineError) as err:
        GeoModel({"imgae": {}})
    assert "imgae" in err.value.message and "image" in err.value.hint
    with pytest.raises(EngineError) as err:
        GeoModel({"image": {"backbone": "tiny_cnn", "widht": 3}})
    assert "image.widht" in err.value.message
    with pytest.raises(EngineError, match="embedding_dim"):
        GeoModel({"embedding_dim": 0})


def test_config_may_be_a_dataclass() -> None:
    @dataclasses.dataclass
    class Recipe:
        embedding_dim: int = 8
        image: dict = dataclasses.field(default_factory=lambda: dict(TINY))

    model = GeoModel.from_config(Recipe())
    assert model.embedding_dim == 8 and model.config["image"]["backbone_kw"]["width"] == 8
    with pytest.raises(EngineError, match="mapping"):
        GeoModel(["image"])


def test_missing_encoders_say_how_to_add_them() -> None:
    model = GeoModel({"embedding_dim": 8, "image": TINY})
    with pytest.raises(EngineError, match="overhead"):
        model.embed_overhead(torch.zeros(1, 3, 8, 8))
    with pytest.raises(EngineError, match="location"):
        model.embed_location(torch.zeros(1, 2))
    with pytest.raises(EngineError, match="time"):
        model.embed_time(torch.zeros(1, 4))
    with pytest.raises(EngineError, match=r"\(B, C, H, W\)"):
        model.embed_image(torch.zeros(1, 8, 8))
    with pytest.raises(EngineError, match="uint8"):
        model.embed_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.parametrize("size", [16, 37, 64])
def test_tiny_cnn_takes_any_input_size(size: int) -> None:
    net = build_backbone("tiny_cnn", width=8, depth=3, out_dim=24)
    assert net(torch.randn(2, 3, size, size)).shape == (2, 24) and net.out_dim == 24


def test_timm_backbone_builds_without_download(no_network: None) -> None:
    net = build_backbone("timm:resnet10t")
    assert net.out_dim == 512
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    model = GeoModel({"embedding_dim": 8, "image": {"backbone": "timm:mobilenetv3_small_050",
                                                    "hidden_dim": 16}})
    assert model.eval().embed_image(torch.randn(2, 3, 32, 32)).shape == (2, 8)


def test_timm_backbone_loads_local_safetensors(tmp_path: Path, no_network: None) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    src = build_backbone("timm:resnet10t")
    path = tmp_path / "resnet10t.safetensors"
    save_file({k: v.contiguous() for k, v in src.model.state_dict().items()}, str(path))
    torch.manual_seed(1)
    dst = build_backbone("timm:resnet10t", weights=str(path))
    for (k, a), b in zip(src.model.state_dict().items(), dst.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k
    # a checkpoint rebuild skips the weights file (the state dict comes from the checkpoint)
    cfg = {"embedding_dim": 8, "image": {"backbone": "timm:resnet10t",
                                         "backbone_kw": {"weights": str(tmp_path / "gone")}}}
    with pytest.raises(EngineError, match="not found"):
        GeoModel.from_config(cfg)
    assert GeoModel.from_config(cfg, load_pretrained=False).image_feature_dim == 512
    cfg["image"]["backbone_kw"]["weights"] = str(path)
    model = GeoModel.from_config(cfg)  # initialised from the file; the config leaves it out
    assert "weights" not in model.config["image"]["backbone_kw"]
    assert torch.equal(model.image_encoder.backbone.model.conv1[0].weight,
                       src.model.conv1[0].weight)
    with pytest.raises(EngineError, match="do not fit"):
        build_backbone("timm:mobilenetv3_small_050", weights=str(path))


def test_unknown_backbones_list_the_choices() -> None:
    with pytest.raises(EngineError) as err:
        build_backbone("resnet18")
    assert "tiny_cnn" in err.value.hint and "timm:" in err.value.hint
    with pytest.raises(EngineError, match="unknown timm model"):
        build_backbone("timm:not_a_model_xyz")
    with pytest.raises(EngineError, match="rejected the settings"):
        build_backbone("timm:resnet10t", no_such_option=3)
    with pytest.raises(EngineError, match="widht"):
        build_backbone("tiny_cnn", widht=3)
    assert "tiny_cnn" in BACKBONES


def test_registry_is_one_decorator_per_entry() -> None:
    reg = Registry("widget")

    @reg.register("plain")
    def plain(size: int = 1) -> int:
        return size

    @reg.register("fam:")
    def family(variant: str, size: int = 1) -> str:
        return f"{variant}-{size}"

    assert reg.build("plain", size=3) == 3
    assert reg.build("fam:x", size=2) == "x-2"
    assert reg.names() == ["fam:", "plain"]
    with pytest.raises(EngineError, match="unknown widget 'other'"):
        reg.build("other")


def test_projection_head_and_predictor_are_normalised() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 12)
    for head in (ProjectionHead(12, 6, hidden_dim=20), ProjectionHead(12, 6, 20, bn=False)):
        torch.testing.assert_close(head(x).norm(dim=1), torch.ones(5))
    z = Predictor(6, hidden_dim=10)(torch.randn(5, 6))
    assert z.shape == (5, 6)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5))


def test_time_features_are_cyclic_and_mark_missing_times() -> None:
    times = pd.Series(pd.to_datetime(["2024-01-01T00:00:00Z", "2024-07-01T12:00:00Z", None,
                                      "2023-12-31T23:59:59Z"], utc=True))
    f = time_features(times)
    assert f.shape == (4, 4) and f.dtype == np.float32
    np.testing.assert_allclose(f[0], [0.0, 1.0, 0.0, 1.0], atol=1e-6)  # new year, midnight
    assert f[1, 3] == pytest.approx(-1.0, abs=1e-6)  # noon: cos(pi)
    assert f[1, 1] < -0.99  # early July: about half a year
    np.testing.assert_array_equal(f[2], 0.0)
    np.testing.assert_allclose(f[3], f[0], atol=2e-2)  # one second before new year
    assert time_valid(times).tolist() == [True, True, False, True]
    f5 = time_features(["2026-05-03T14:20:00Z"], reference_year=2024)
    assert f5.shape == (1, 5) and 2.3 < f5[0, 4] < 2.4
    with pytest.raises(EngineError, match="capture times"):
        time_features(["not a date"])


def test_time_encoder_drops_whole_embeddings_and_respects_valid() -> None:
    torch.manual_seed(0)
    enc = TimeEncoder(8, drop_p=0.5)
    feats = torch.randn(200, 4)
    valid = torch.ones(200, dtype=torch.bool)
    valid[:10] = False
    out = enc.train()(feats, valid)
    zero_rows = (out.abs().sum(dim=1) == 0)
    assert bool(zero_rows[:10].all())
    assert 0.3 < float(zero_rows[10:].double().mean()) < 0.7  # about drop_p
    out_eval = enc.eval()(feats, valid)
    assert bool((out_eval[10:].abs().sum(dim=1) > 0).all())
    with pytest.raises(EngineError, match="drop_p"):
        TimeEncoder(8, drop_p=1.0)
    with pytest.raises(EngineError, match=r"\(B, 4\)"):
        enc(torch.randn(3, 5))
