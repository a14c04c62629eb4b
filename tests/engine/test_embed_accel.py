"""The OpenVINO / ONNX Runtime CPU paths: chosen for pretrained backbones, same features as
torch, same field."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from test_embed_support import tiny_model, write_rgb_tif

from engine.embed import accel
from engine.embed.raster import embed_raster
from engine.errors import EngineError

torch.set_num_threads(1)
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def export_dir(tmp_path, monkeypatch):
    """Exported graphs go to a fresh directory per test, not to the checkout's models/."""
    monkeypatch.setattr(accel, "EXPORT_DIR", tmp_path / "exported")
    return tmp_path / "exported"


@pytest.fixture(scope="module")
def lite_model():
    """A GeoModel whose overhead encoder is timm's efficientnet_lite0 (random init, small)."""
    from engine.nn import GeoModel

    torch.manual_seed(0)
    enc = {"backbone": "timm:efficientnet_lite0", "hidden_dim": 32}
    return GeoModel.from_config({"embedding_dim": 16, "image": dict(enc),
                                 "overhead": dict(enc)}).eval()


def test_auto_picks_a_fast_runtime_for_pretrained_backbones_only(lite_model) -> None:
    assert accel.pick_runtime(lite_model, CPU, "auto") == "openvino"  # installed: preferred
    assert accel.pick_runtime(tiny_model(), CPU, "auto") == "torch"
    assert accel.pick_runtime(lite_model, CPU, "torch") == "torch"
    assert accel.pick_runtime(tiny_model(), CPU, "onnxruntime") == "onnxruntime"
    assert accel.pick_runtime(tiny_model(), CPU, "openvino") == "openvino"
    from engine.nn import GeoModel
    from engine.nn.pretrained.zoo import zoo_model_config

    zoo = zoo_model_config("zoo:efficientnet_lite0")
    for part in ("image", "overhead"):
        zoo[part]["backbone_kw"] = {"weights": None}  # the zoo network, random init
    assert accel.pick_runtime(GeoModel.from_config(zoo), CPU, "auto") == "openvino"
    assert accel.pick_runtime(lite_model, CPU, "auto", n_items=10) == "torch"  # not worth it
    with pytest.raises(EngineError, match="unknown runtime"):
        accel.pick_runtime(lite_model, CPU, "tensorrt")


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_exported_features_equal_torch(lite_model, runtime, monkeypatch) -> None:
    monkeypatch.setattr(accel, "OV_CHUNK_PIXELS", 1)  # OpenVINO: chunks of 8, 8 + 4 here
    fn = accel.encoder_fn(lite_model, "embed_overhead", CPU, runtime)
    assert fn.runtime == runtime
    x = torch.randn(12, 3, 32, 32)  # more than the CHECK_ITEMS torch also runs
    with torch.inference_mode():
        ref = lite_model.embed_overhead(x)
        first, again = fn(x), fn(x[:3])  # the first batch exports; batch size is dynamic
    assert not fn.fallback and fn.session is not None
    assert float((first - ref).abs().max()) < 1e-4
    assert float((again - ref[:3]).abs().max()) < 1e-4


def test_field_on_onnxruntime_equals_torch_to_float16(tmp_path, lite_model) -> None:
    src = write_rgb_tif(tmp_path / "in.tif", 96, 80, "EPSG:32617",
                        from_origin(500000.0, 4000000.0, 0.5, 0.5))
    fields = {}
    for runtime in ("torch", "onnxruntime", "openvino"):
        out = tmp_path / f"{runtime}.tif"
        embed_raster(lite_model, src, out, chip_px=32, stride_px=16, batch_size=16,
                     device="cpu", dtype="float32", preview=False, runtime=runtime)
        with rasterio.open(out) as ds:
            fields[runtime] = ds.read()
    assert np.isfinite(fields["torch"]).any()
    np.testing.assert_allclose(fields["onnxruntime"], fields["torch"], atol=1e-3, rtol=0)
    np.testing.assert_allclose(fields["openvino"], fields["torch"], atol=1e-3, rtol=0)


def test_exported_graph_is_reused_and_a_bad_one_replaced(lite_model, export_dir) -> None:
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        ref = lite_model.embed_overhead(x)
        first = accel.OrtEncoder(lite_model, "embed_overhead")
        first(x)
        (graph,) = export_dir.glob("*.onnx")
        again = accel.OpenVinoEncoder(lite_model, "embed_overhead")
        again._export = None  # the second job must not export: it reads the file
        assert float((again(x) - ref).abs().max()) < 1e-4 and not again.fallback
        graph.write_bytes(b"not an onnx graph")  # damaged: dropped, exported again
        fresh = accel.OrtEncoder(lite_model, "embed_overhead")
        assert float((fresh(x) - ref).abs().max()) < 1e-4 and not fresh.fallback
        assert graph.read_bytes() != b"not an onnx graph"


def test_a_graph_that_disagrees_with_torch_is_dropped(lite_model, export_dir) -> None:
    from engine.nn import GeoModel

    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(1)
    other = GeoModel.from_config({"embedding_dim": 16, "overhead": {
        "backbone": "timm:efficientnet_lite0", "hidden_dim": 32}}).eval()
    with torch.inference_mode():
        accel.OrtEncoder(other, "embed_overhead")(x)
        (wrong,) = export_dir.glob("*.onnx")
        enc = accel.OrtEncoder(lite_model, "embed_overhead")
        wrong.rename(export_dir / f"{enc._key(x)[:32]}.onnx")  # another model's graph
        y = enc(x)
        ref = lite_model.embed_overhead(x)
    assert enc.fallback  # torch ran it: the user gets torch's features
    assert float((y - ref).abs().max()) == 0.0
    assert not list(export_dir.glob("*.onnx"))
