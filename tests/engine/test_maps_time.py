"""Time-conditioned maps: cross_view with condition="overhead" (Sat2Cap) conditions the overhead
side on the capture time, and the time map applies the head to normalize(field + time_emb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

ENC = {"backbone": "tiny_cnn", "backbone_kw": {"width": 4, "depth": 2, "out_dim": 16},
       "hidden_dim": 16}
MODEL = {"embedding_dim": 16, "image": ENC, "overhead": ENC, "time": {"hidden_dim": 8}}


def batch(valid: list[bool]) -> dict:
    g = torch.Generator().manual_seed(0)
    n = len(valid)
    return {"view1": torch.randn(n, 3, 16, 16, generator=g),
            "overhead": torch.randn(n, 3, 16, 16, generator=g),
            "time": torch.randn(n, 4, generator=g), "time_valid": torch.tensor(valid)}


def test_overhead_condition_moves_time_to_the_overhead_side() -> None:
    from engine.nn.model import GeoModel
    from engine.objectives import StepContext, build_objectives

    torch.manual_seed(0)
    model = GeoModel(MODEL).eval()
    obj = build_objectives({"cross_view": {"condition": "overhead"}}, model)[0][2]
    assert set(obj.requires) == {"view1", "overhead", "time", "time_valid"}
    b = batch([True, False, True, True])
    ctx = StepContext(model, b)
    assert torch.equal(obj.ground(ctx), ctx.image("view1"))  # photos stay unconditioned
    o, t = ctx.overhead("overhead"), model.embed_time(b["time"], b["time_valid"])
    expected = F.normalize(o + t, dim=1)
    assert torch.allclose(obj.overhead(ctx), expected, atol=1e-6)
    assert torch.allclose(obj.overhead(ctx)[1], o[1])  # no date: the chip as it is
    assert not torch.allclose(obj.overhead(ctx)[0], o[0])
    ground = build_objectives({"cross_view": {}}, model)[0][2]  # default: the photo side
    assert torch.equal(ground.overhead(StepContext(model, b)), o)


def test_condition_is_validated_and_the_time_recipe_uses_overhead() -> None:
    from engine.errors import EngineError
    from engine.objectives import build_objectives
    from engine.paths import resolve_path
    from engine.train.config import load_config

    with pytest.raises(EngineError, match="condition 'sky'"):
        build_objectives({"cross_view": {"condition": "sky"}})
    cfg = load_config(resolve_path("models/crossview_time.yaml"))
    assert cfg.objectives["cross_view"]["condition"] == "overhead"


def test_time_map_is_the_head_on_the_time_conditioned_field(tmp_path: Path) -> None:
    from affine import Affine

    from engine.export.geotiff import write_geotiff
    from engine.heads.fit import fit_head
    from engine.heads.io import save_head
    from engine.maps.time_map import time_map, time_offset
    from engine.models.weights import save_model
    from engine.nn.model import GeoModel

    torch.manual_seed(0)
    model = GeoModel(MODEL).eval()
    save_model(model, tmp_path / "model",
               extra_config={"objectives": {"cross_view": {"condition": "overhead"}}})
    rng = np.random.default_rng(0)
    field = rng.normal(size=(16, 6, 7)).astype(np.float32)
    field /= np.linalg.norm(field, axis=0, keepdims=True)
    write_geotiff(field, "EPSG:32617", Affine(10, 0, 328000, 0, -10, 4421400),
                  tmp_path / "field.tif")
    X = rng.normal(size=(60, 16))
    save_head(fit_head(X, X[:, 0] - X[:, 1], "ridge", target_name="t"), tmp_path / "head")
    when = "2023-07-12T14:00:00Z"
    out = time_map(tmp_path / "model", tmp_path / "head", tmp_path / "field.tif", when,
                   tmp_path / "maps", align=False)
    import rasterio

    from engine.heads.io import load_head

    with rasterio.open(out["geotiff"]) as ds:
        got = ds.read(1)
    z = field.reshape(16, -1).T.astype(np.float64) + time_offset(model, when)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    expected = load_head(tmp_path / "head").predict(z).reshape(6, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
